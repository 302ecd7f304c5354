import MQTT
import Testing

@Suite("Broker URLs: the one parser both programs' configurations use")
struct BrokerURLTests {
    @Test("schemes, default and given ports, IPv6 hosts")
    func parses() throws {
        #expect(BrokerURL("mqtt://broker.example") == BrokerURL(tls: false, host: "broker.example", port: 1883))
        #expect(BrokerURL("mqtts://broker.example") == BrokerURL(tls: true, host: "broker.example", port: 8883))
        #expect(BrokerURL("tcp://10.0.0.5:1884") == BrokerURL(tls: false, host: "10.0.0.5", port: 1884))
        #expect(BrokerURL("ssl://[fd00::5]:8884") == BrokerURL(tls: true, host: "fd00::5", port: 8884))
        #expect(BrokerURL("ssl://[fd00::5]:8884")?.endpoint == "[fd00::5]:8884")
        #expect(try BrokerURL.parse("mqtt://broker.example").get().port == nil, "no port given: the caller decides")
    }

    @Test("credentials in the URL are told apart from a URL that is not one")
    func refuses() {
        #expect(BrokerURL.parse("mqtt://user:pw@broker") == .failure(.credentials))
        for text in [
            "http://broker:1883", "mqtt://", "mqtt://host:0", "mqtt://host:99999", "mqtt://host/path", "mqtt://a:b:c",
            "mqtt://host?x=1",
        ] {
            #expect(BrokerURL.parse(text) == .failure(.malformed), "\(text)")
            #expect(BrokerURL(text) == nil, "\(text)")
        }
    }
}
