// Placeholder until the Simulation layer lands.
