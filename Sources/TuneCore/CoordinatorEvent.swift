/// What coordd reports to operators beside its log, as typed values: one JSON object a line
/// in the file `coordd --events FILE` names, so tools and tests read facts, not log text.
public enum CoordinatorEvent: Codable, Equatable, Sendable {
    /// A message from an agent connection was refused (malformed, wrong version, unexpected).
    case messageRejected(peer: String, reason: String)
    /// A CURVE key not on the allow-list tried to connect (logged once per key).
    case keyRefused(key: String, address: String)
    /// SIGHUP re-read the allow-list.
    case allowListReloaded(keys: Int)
    /// SIGHUP found an allow-list that cannot be used; the previous one stays.
    case allowListKept(reason: String)
    /// A result refused without being stored: not this session's to give (a batch never sent
    /// to it, another agent's candidate) or content out of range.
    case resultRefused(peer: String, batchID: UInt64, candidateID: Int64, reason: String)
    /// A hello refused; nothing of it was stored.
    case helloRefused(peer: String, reason: String)

    /// The events of an event file; lines that are not events are skipped.
    public static func decodeLines(_ text: String, decode: (String) -> CoordinatorEvent?) -> [CoordinatorEvent] {
        text.split(separator: "\n").compactMap { decode(String($0)) }
    }
}

/// Peer-supplied text made safe for a log line: control characters escaped (a newline can
/// never start a forged line), at most `limit` characters.
public func logSafe(_ s: String, limit: Int = 200) -> String {
    var out = ""
    for u in s.unicodeScalars {
        if out.unicodeScalars.count >= limit { out += "..."; break }
        switch u {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\\": out += "\\\\"
        default:
            if u.properties.generalCategory == .control || u.properties.generalCategory == .format || u.value == 0x2028 || u.value == 0x2029 {
                out += "\\u{" + String(u.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out
}
