import Testing

// Replaced as the Simulation layer lands.
