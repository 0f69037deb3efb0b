import Synchronization
import TuneCore
import TuneWire

/// Results waiting to be sent, and the ones sent but not yet acknowledged. The pipeline
/// thread adds; the socket thread sends, resends after a reconnect, and forgets on ack.
final class Outbox: Sendable {
    struct Key: Hashable { var batch: UInt64; var candidate: Int64 }
    private struct State {
        var fresh: [Tunefleet_V1_MeasureResult] = []
        var unacked: [Key: Tunefleet_V1_MeasureResult] = [:]
        var order: [Key] = []
    }
    private let state = Mutex(State())

    func add(_ r: Tunefleet_V1_MeasureResult) {
        state.withLock { $0.fresh.append(r) }
    }

    /// Results not sent yet; they move to the unacked set.
    func takeFresh() -> [Tunefleet_V1_MeasureResult] {
        state.withLock { s in
            let out = s.fresh
            s.fresh = []
            for r in out {
                let k = Key(batch: r.batchID, candidate: r.candidateID)
                if s.unacked.updateValue(r, forKey: k) == nil { s.order.append(k) }
            }
            return out
        }
    }

    /// Everything sent but not acknowledged, oldest first (for resending after a reconnect).
    func unacknowledged() -> [Tunefleet_V1_MeasureResult] {
        state.withLock { s in s.order.compactMap { s.unacked[$0] } }
    }

    func acknowledge(batch: UInt64, candidate: Int64) {
        state.withLock { s in
            let k = Key(batch: batch, candidate: candidate)
            if s.unacked.removeValue(forKey: k) != nil { s.order.removeAll { $0 == k } }
        }
    }

    var pendingCount: Int { state.withLock { $0.fresh.count + $0.unacked.count } }
}
