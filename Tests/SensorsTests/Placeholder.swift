import Testing

// Replaced as the Sensors layer lands.
