# Packet-capture check of bench/restarts.ts: which of the messages the subscriber application
# never got had reached its socket? Reassembles every broker->client TCP stream of the broker
# port in a tcpdump capture of lo, parses the MQTT PUBLISHes (topic restarts/...) in it, and
# compares them with the --dump JSON of the run. Usage (as root; tcpdump from Debian):
#   tcpdump -i lo -s 0 -U -w cap.pcap tcp &   node --import=tsx bench/restarts.ts --dump dump.json;  kill %1
#   python3 bench/restarts-pcap.py cap.pcap dump.json [client port]
# With a client port: also the last 40 packets of that connection, both ways.
import json, struct, sys, collections
pcap, dump = sys.argv[1], json.load(open(sys.argv[2]))
show = int(sys.argv[3]) if len(sys.argv) > 3 else None
timeline = []
port, missed = dump['port'], set(dump['missed'])
f = open(pcap, 'rb'); gh = f.read(24)
magic = struct.unpack('<I', gh[:4])[0]; e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
link = struct.unpack(e + 'I', gh[20:24])[0]
streams = collections.defaultdict(dict)  # client port -> {offset: payload}
bases = {}
flags_seen = collections.defaultdict(list)
while True:
    rh = f.read(16)
    if len(rh) < 16: break
    ts, us, incl, _ = struct.unpack(e + 'IIII', rh); data = f.read(incl)
    off = 14 if link == 1 else (16 if link == 113 else 0)
    ip = data[off:]
    if ip[0] >> 4 != 4: continue
    ihl = (ip[0] & 15) * 4; tot = struct.unpack('>H', ip[2:4])[0]
    if ip[9] != 6: continue
    tcp = ip[ihl:tot]
    sp, dp, seq = struct.unpack('>HHI', tcp[:8]); doff = (tcp[12] >> 4) * 4; fl = tcp[13]
    if show is not None and {sp, dp} == {port, show}:
        timeline.append((ts + us / 1e6, 'broker->client' if sp == port else 'client->broker', fl, tcp[doff:]))
    if sp != port: continue
    if fl & 0x05: flags_seen[dp].append('RST' if fl & 4 else 'FIN')
    pl = tcp[doff:]
    if pl:
        # Offsets from the stream's first data byte (sequence numbers wrap at 2^32).
        base = bases.setdefault(dp, seq)
        streams[dp].setdefault((seq - base) & 0xffffffff, pl)
wire = set(); pub_conns = 0; per_conn = []
for cport, segs in streams.items():
    buf = b''; nxt = None
    for s in sorted(segs):
        p = segs[s]
        if nxt is None: nxt = s
        if s > nxt: break           # a hole: stop (should not happen on lo)
        if s + len(p) <= nxt: continue
        buf += p[nxt - s:]; nxt = s + len(p)
    i = 0; got = []
    while i + 2 <= len(buf):
        t = buf[i]; j = i + 1; n = 0; m = 1
        while True:
            if j >= len(buf): break
            b = buf[j]; j += 1; n += (b & 127) * m; m *= 128
            if not b & 128: break
        if j + n > len(buf): break
        body = buf[j:j + n]
        if t >> 4 == 3:
            tl = struct.unpack('>H', body[:2])[0]; topic = body[2:2 + tl].decode()
            q = (t >> 1) & 3; pay = body[2 + tl + (2 if q else 0):]
            if topic.startswith('restarts/'): got.append(int(pay))
        i = j + n
    if got:
        pub_conns += 1; wire.update(got)
        per_conn.append((cport, len(got), len(set(got) & missed), flags_seen.get(cport, [])))
print(f'subscriber connections seen in the capture: {pub_conns}')
print(f'PUBLISHes the broker wrote to the subscriber: {len(wire)} distinct sequence numbers')
print(f'messages the application never got: {len(missed)}; of these on the wire to its socket: {len(wire & missed)}')
for c in per_conn:
    if c[2]: print(f'  connection from port {c[0]}: {c[1]} PUBLISHes written by the broker, {c[2]} of them never delivered; closed by {c[3]}')

def frames(pl):
    out = []; i = 0
    while i + 2 <= len(pl):
        t = pl[i]; j = i + 1; n = 0; m = 1
        while j < len(pl):
            b = pl[j]; j += 1; n += (b & 127) * m; m *= 128
            if not b & 128: break
        body = pl[j:j + n]
        if t >> 4 == 3 and len(body) >= 2:
            tl = struct.unpack('>H', body[:2])[0]; q = (t >> 1) & 3
            try: out.append(int(body[2 + tl + (2 if q else 0):]))
            except ValueError: out.append('?')
        else: out.append({4: 'PUBACK', 9: 'SUBACK', 2: 'CONNACK', 13: 'PINGRESP'}.get(t >> 4, 'type %d' % (t >> 4)))
        i = j + n
    return out
if timeline:
    print(f'last 40 packets between the broker and client port {show} (ms from its first packet):')
    t0 = timeline[0][0]
    for ts, d, fl, pl in timeline[-40:]:
        fs = ''.join(n for b, n in [(2, 'SYN '), (1, 'FIN '), (4, 'RST '), (8, 'PSH '), (16, 'ACK')] if fl & b)
        fr = frames(pl) if pl else []
        nums = [x for x in fr if isinstance(x, int)]
        other = [x for x in fr if not isinstance(x, int)]
        what = ''
        if nums: what += f'{len(nums)} PUBLISH {nums[0]}..{nums[-1]}' + (f' ({sum(1 for x in nums if x in missed)} never delivered to the application)' if any(x in missed for x in nums) else '')
        if other: what += f' {len(other)} x {other[0]}' if len(set(other)) == 1 else f' {other}'
        print(f'  {(ts - t0) * 1000:9.3f} {d} {fs:16} {len(pl):5} B  {what}')
