import Synchronization
import TuneWire

/// Results sent and waiting for their acknowledgement, oldest first: the session keeps each
/// until the coordinator acknowledges it (after its commit) and resends the rest after a
/// welcome. A pure value, owned by `AgentSession`.
struct Outbox: Sendable, Equatable {
    struct Key: Hashable, Sendable { var batch: UInt64; var candidate: Int64 }
    private var unacked: [Key: Tunefleet_V1_MeasureResult] = [:]
    private var order: [Key] = []

    /// Records `r` as sent; a result sent again (same batch and candidate) keeps its place.
    mutating func sent(_ r: Tunefleet_V1_MeasureResult) {
        let k = Key(batch: r.batchID, candidate: r.candidateID)
        if unacked.updateValue(r, forKey: k) == nil { order.append(k) }
    }

    /// Everything sent but not acknowledged, oldest first.
    var unacknowledged: [Tunefleet_V1_MeasureResult] { order.compactMap { unacked[$0] } }

    mutating func acknowledge(batch: UInt64, candidate: Int64) {
        let k = Key(batch: batch, candidate: candidate)
        if unacked.removeValue(forKey: k) != nil { order.removeAll { $0 == k } }
    }

    /// Drops every result of these batches (the coordinator called them back).
    mutating func forget(batches: Set<UInt64>) {
        order.removeAll { k in
            guard batches.contains(k.batch) else { return false }
            unacked[k] = nil
            return true
        }
    }

    var count: Int { unacked.count }
}

/// Hands results from the pipeline thread to the socket loop, which feeds each to the
/// session as `.resultReady`.
final class ResultMailbox: Sendable {
    private let results = Mutex<[Tunefleet_V1_MeasureResult]>([])
    func add(_ r: Tunefleet_V1_MeasureResult) { results.withLock { $0.append(r) } }
    func takeAll() -> [Tunefleet_V1_MeasureResult] { results.withLock { r in defer { r = [] }; return r } }
}
