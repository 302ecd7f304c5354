// Placeholder until the MQTT layer lands.
