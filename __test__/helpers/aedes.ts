// The in-process aedes broker of the tests is the one the demo uses.
export * from '../../scripts/aedes-broker';
