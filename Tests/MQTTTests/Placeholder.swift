import Testing

// Replaced as the MQTT layer lands.
