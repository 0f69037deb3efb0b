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

    /// The events of an event file; lines that are not events are skipped.
    public static func decodeLines(_ text: String, decode: (String) -> CoordinatorEvent?) -> [CoordinatorEvent] {
        text.split(separator: "\n").compactMap { decode(String($0)) }
    }
}
