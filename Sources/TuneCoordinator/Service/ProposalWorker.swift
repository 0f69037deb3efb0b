import Foundation
import Synchronization
import TuneCore

/// Runs the tuning loop's proposals (model scoring of thousands of schedules) on a thread of
/// its own, one at a time, so the coordinator's loop keeps committing, acknowledging and
/// heartbeating while a model thinks. Answers come back through `finished()`.
final class ProposalWorker: Sendable {
    private let state = Mutex<(queue: [TuningLoop.ProposalRequest], done: [Answer], running: Bool)>(([], [], false))
    private let totals = Mutex<(seconds: Double, count: Int)>((0, 0))

    struct Answer: Sendable {
        var request: TuningLoop.ProposalRequest
        var proposals: [ProposedSchedule]
        var strategy: any SearchStrategy
        var seconds: Double
    }

    func submit(_ request: TuningLoop.ProposalRequest) {
        let start = state.withLock { s -> Bool in
            s.queue.append(request)
            guard !s.running else { return false }
            s.running = true
            return true
        }
        guard start else { return }
        let t = Thread { [self] in drain() }
        t.name = "proposals"
        t.start()
    }

    private func drain() {
        while let next = state.withLock({ s -> TuningLoop.ProposalRequest? in
            if s.queue.isEmpty { s.running = false; return nil }
            return s.queue.removeFirst()
        }) {
            let began = Date()
            let (proposals, strategy) = next.run()
            let answer = Answer(request: next, proposals: proposals, strategy: strategy, seconds: Date().timeIntervalSince(began))
            state.withLock { $0.done.append(answer) }
            totals.withLock { $0.seconds += answer.seconds; $0.count += 1 }
        }
    }

    /// Answers since the last call, in the order they were computed.
    func finished() -> [Answer] {
        state.withLock { s in
            defer { s.done = [] }
            return s.done
        }
    }

    /// Seconds spent proposing, and proposals made, since the worker started.
    var spent: (seconds: Double, count: Int) { totals.withLock { $0 } }

    var busy: Bool { state.withLock { $0.running || !$0.queue.isEmpty } }
}
