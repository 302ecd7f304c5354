// Placeholder until the Sensors layer lands.
