import Testing

// Replaced as the GPIO layer lands.
