import BinProtocol
import Foundation

@testable import BinDaemon

/// The repository's `boards/` directory.
let boardsDirectory: String = {
    let here = URL(fileURLWithPath: #filePath)
    return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("boards").path
}()

let testOptions = ConfigLoader.Options(boardSearchPaths: [boardsDirectory], checkReferencedFiles: false)

/// A complete, valid configuration; tests replace lines in it to make one thing wrong.
let validConfigYAML = """
    device: pt-0001
    board: raspberry-pi
    state_dir: /var/lib/binsd
    broker:
      url: mqtt://127.0.0.1:1883
      password_file: /etc/binsd/password
    temperature: {source: fixed, celsius: 22}
    thresholds:
      scale_noise_kg: 0.004
    sampling:
      burst_readings: 8
    outbox: {capacity: 5000, sync: normal}
    logging: {level: debug, format: json}
    bins:
      - id: wet
        stream: wet
        shape: {kind: box, width_mm: 480, length_mm: 550, depth_mm: 900}
        sensors:
          hx711: {dout: GPIO5, sck: GPIO6, rate: 10, gain: 128}
          ranger: {trigger: GPIO23, echo: GPIO24, model: hc-sr04, mount_mm: 40}
          lid: {pin: GPIO17, bias: pull-up, open_level: high, debounce_ms: 30}
      - id: dry
        stream: dry
        shape: {kind: cylinder, diameter_mm: 600, depth_mm: 1000}
        sensors:
          hx711: {dout: pin36, sck: P1-37}
          ranger: {trigger: {chip: pinctrl-bcm2711, line: 20}, echo: GPIO21, mount_mm: 50}
        thresholds: {min_deposit_kg: 0.1}

    """

func parseConfig(_ yaml: String, file: String = "binsd.yaml") throws(BinDaemonError) -> DaemonConfig {
    try ConfigLoader.parse(yaml: yaml, file: file, options: testOptions)
}

/// The issues parsing `yaml` reports, as printed.
func configErrors(_ yaml: String) -> [String] {
    do {
        _ = try parseConfig(yaml)
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

func replacing(_ old: String, with new: String, in text: String = validConfigYAML) -> String {
    precondition(text.contains(old), "fixture does not contain \(old)")
    return text.replacingOccurrences(of: old, with: new)
}

let t0 = WireTimestamp(millisecondsSinceEpoch: 1_780_000_000_000, utcOffsetSeconds: 8 * 3600)

func at(_ seconds: Double) -> WireTimestamp { t0.adding(milliseconds: Int64((seconds * 1000).rounded())) }
