import Testing

// Replaced as the System layer lands.
