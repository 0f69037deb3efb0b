/// Durations as operators type them: `90`, `90s`, `15m`, `2h`, `1h30m`, `1.5h`.
public enum DurationText {
    /// Seconds, or nil when the text is not a positive duration.
    public static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var total = 0.0, number = "", sawUnit = false
        for ch in text.lowercased() where !ch.isWhitespace {
            if ch.isNumber || ch == "." {
                number.append(ch)
            } else if let u = units[ch], let v = Double(number), v.isFinite {
                total += v * u
                number = ""
                sawUnit = true
            } else {
                return nil
            }
        }
        if !number.isEmpty {
            // A bare number is seconds; after units (1h30) it is not allowed: say the unit.
            guard !sawUnit, let v = Double(number), v.isFinite else { return nil }
            total += v
        } else if !sawUnit {
            return nil
        }
        return total > 0 && total.isFinite ? total : nil
    }

    /// `1h 5m`, `15m`, `42 s`: for ETAs and limits.
    public static func format(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "-" }
        if s < 60 { return "\(Int(s.rounded())) s" }
        let m = Int((s / 60).rounded())
        if m < 60 { return "\(m) min" }
        return "\(m / 60) h \(m % 60) min"
    }
}
