import Testing
@testable import TuneAgent
import TuneCore
import TuneWire

private func hello() -> Tunefleet_V1_Hello {
    var h = Tunefleet_V1_Hello()
    h.agentName = "a"
    h.instanceID = "i1"
    h.slots = 1
    return h
}

private func session(heartbeat: Double = 1, timeoutIntervals: Double = 4) -> AgentSession {
    AgentSession(settings: .init(heartbeatInterval: heartbeat, peerTimeoutIntervals: timeoutIntervals, hello: hello()))
}

private func welcome(heartbeatMs: UInt32 = 0) -> Body {
    var w = Tunefleet_V1_Welcome()
    w.heartbeatIntervalMs = heartbeatMs
    return .welcome(w)
}

private func result(batch: UInt64, candidate: Int64) -> Tunefleet_V1_MeasureResult {
    MeasureResult(candidateID: candidate, status: .ok, samples: [1e-3]).wire(batchID: batch)
}

private func ack(batch: UInt64, candidate: Int64) -> Body {
    var a = Tunefleet_V1_ResultAck()
    a.batchID = batch
    a.candidateID = candidate
    return .resultAck(a)
}

private func reject(_ code: Tunefleet_V1_RejectCode, _ reason: String = "no") -> Body {
    var r = Tunefleet_V1_Reject()
    r.code = code
    r.reason = reason
    return .reject(r)
}

/// The results a list of directives sends, as (batch, candidate).
private func sentResults(_ ds: [AgentSessionDirective]) -> [[Int64]] {
    ds.compactMap { if case .send(.measureResult(let r)) = $0 { return [Int64(r.batchID), r.candidateID] } else { return nil } }
}

private func hellos(_ ds: [AgentSessionDirective]) -> Int {
    ds.filter { if case .send(.hello) = $0 { return true } else { return false } }.count
}

@Suite struct AgentSessionBehaviour {
    @Test func itSaysHelloFirstAndSendsResultsOnlyOnceWelcomed() {
        var s = session()
        #expect(s.handle(.started, now: 0) == [.send(.hello(hello()))])
        #expect(s.handle(.resultReady(result(batch: 1, candidate: 5)), now: 0.1).isEmpty, "not welcomed yet: held")
        let out = s.handle(.received(welcome()), now: 0.2)
        #expect(sentResults(out) == [[1, 5]], "the held result goes out with the welcome")
        #expect(sentResults(s.handle(.resultReady(result(batch: 1, candidate: 6)), now: 0.3)) == [[1, 6]])
    }

    @Test func aWelcomeSetsTheHeartbeatInterval() {
        var s = session(heartbeat: 1)
        _ = s.handle(.started, now: 0)
        _ = s.handle(.received(welcome(heartbeatMs: 250)), now: 0)
        #expect(s.heartbeatInterval == 0.25)
    }

    @Test func heartbeatsGoOutEveryIntervalWithTheLoad() {
        var s = session(heartbeat: 1)
        _ = s.handle(.started, now: 0)
        let first = s.handle(.tick(busyBatches: 2), now: 0)
        guard case .send(.heartbeat(let hb))? = first.first else { Issue.record("no heartbeat: \(first)"); return }
        #expect(hb.sequence == 1 && hb.busyBatches == 2)
        #expect(s.handle(.tick(busyBatches: 2), now: 0.5).isEmpty, "not due yet")
        guard case .send(.heartbeat(let next))? = s.handle(.tick(busyBatches: 0), now: 1.0).first else {
            Issue.record("no second heartbeat"); return
        }
        #expect(next.sequence == 2 && next.busyBatches == 0)
    }

    @Test func aSilentCoordinatorMeansReconnectAndHelloAgain() {
        var s = session(heartbeat: 1, timeoutIntervals: 4)
        _ = s.handle(.started, now: 0)
        _ = s.handle(.received(welcome()), now: 0)
        _ = s.handle(.received(.heartbeat(Tunefleet_V1_Heartbeat())), now: 3)
        #expect(!s.handle(.tick(busyBatches: 0), now: 6.9).contains(.reconnect), "heard 3.9 s ago: still alive")
        let out = s.handle(.tick(busyBatches: 0), now: 7.1)
        let reconnect = out.firstIndex(of: .reconnect)
        let hello = out.firstIndex(of: .send(.hello(hello())))
        #expect(reconnect != nil && hello != nil && reconnect! < hello!, "a fresh connection, then hello: \(out)")
        #expect(!s.welcomed)
        #expect(sentResults(s.handle(.resultReady(result(batch: 2, candidate: 1)), now: 7.2)).isEmpty,
                "nothing is sent on the new connection before its welcome")
        #expect(!s.handle(.tick(busyBatches: 0), now: 8).contains(.reconnect), "the silence clock restarted with the hello")
    }

    @Test func unacknowledgedResultsAreResentAfterANewWelcomeAndAckedOnesForgotten() {
        var s = session()
        _ = s.handle(.started, now: 0)
        _ = s.handle(.received(welcome()), now: 0)
        for c in Int64(1)...3 { _ = s.handle(.resultReady(result(batch: 1, candidate: c)), now: 1) }
        _ = s.handle(.received(ack(batch: 1, candidate: 2)), now: 2)
        #expect(s.pendingResults == 2)
        _ = s.handle(.tick(busyBatches: 0), now: 20)   // silence: reconnect
        _ = s.handle(.resultReady(result(batch: 2, candidate: 9)), now: 21)
        let out = s.handle(.received(welcome()), now: 22)
        #expect(sentResults(out) == [[1, 1], [1, 3], [2, 9]], "oldest first, the acknowledged one forgotten, then the new one")
        // Still kept until acknowledged: a second welcome sends them again.
        #expect(sentResults(s.handle(.received(welcome()), now: 23)) == [[1, 1], [1, 3], [2, 9]])
        for c in [Int64(1), 3] { _ = s.handle(.received(ack(batch: 1, candidate: c)), now: 24) }
        _ = s.handle(.received(ack(batch: 2, candidate: 9)), now: 24)
        #expect(s.pendingResults == 0)
        #expect(sentResults(s.handle(.received(welcome()), now: 25)).isEmpty)
    }

    /// Batches called back are handed to the pipeline to stop, and what they produced and
    /// was not acknowledged is forgotten (the coordinator would refuse it); others are kept.
    @Test func calledBackBatchesAreStoppedAndTheirResultsForgotten() {
        var s = session()
        _ = s.handle(.started, now: 0)
        _ = s.handle(.received(welcome()), now: 0)
        _ = s.handle(.resultReady(result(batch: 1, candidate: 1)), now: 1)
        _ = s.handle(.resultReady(result(batch: 2, candidate: 5)), now: 1)
        var c = Tunefleet_V1_CancelBatches()
        c.batchIds = [1, 3]
        c.reason = "campaign cancelled"
        let out = s.handle(.received(.cancelBatches(c)), now: 2)
        #expect(out == [.cancel([1, 3])])
        #expect(s.pendingResults == 1)
        #expect(sentResults(s.handle(.received(welcome()), now: 3)) == [[2, 5]])
    }

    /// Leaving on purpose says goodbye once (when welcomed: only then is there work to hand
    /// back) and nothing after it.
    @Test func leavingSaysGoodbyeOnceAndThenNothing() {
        var s = session()
        _ = s.handle(.started, now: 0)
        _ = s.handle(.received(welcome()), now: 0)
        let out = s.handle(.leaving(reason: "SIGTERM"), now: 1)
        guard case .send(.goodbye(let g))? = out.first, out.count == 1 else { Issue.record("\(out)"); return }
        #expect(g.reason == "SIGTERM")
        #expect(s.handle(.tick(busyBatches: 0), now: 30).isEmpty)
        var quiet = session()
        _ = quiet.handle(.started, now: 0)
        #expect(quiet.handle(.leaving(reason: "SIGTERM"), now: 1).isEmpty, "never welcomed: nothing to hand back")
    }

    @Test func anAckForgetsOnlyItsOwnResult() {
        var s = session()
        _ = s.handle(.started, now: 0)
        _ = s.handle(.received(welcome()), now: 0)
        _ = s.handle(.resultReady(result(batch: 1, candidate: 4)), now: 0)
        _ = s.handle(.resultReady(result(batch: 2, candidate: 4)), now: 0)
        _ = s.handle(.received(ack(batch: 2, candidate: 4)), now: 1)
        #expect(sentResults(s.handle(.received(welcome()), now: 2)) == [[1, 4]], "same candidate, other batch: kept")
    }

    @Test func aBadVersionOrNotAllowedRejectStopsTheAgent() {
        for code in [Tunefleet_V1_RejectCode.badVersion, .notAllowed] {
            var s = session()
            _ = s.handle(.started, now: 0)
            #expect(s.handle(.received(reject(code, "v9 only")), now: 1) == [.stop(reason: "coordinator refused this agent: v9 only")])
            #expect(s.stopped)
            #expect(s.handle(.tick(busyBatches: 0), now: 100).isEmpty, "a stopped session does nothing more")
        }
    }

    @Test func anUnknownSessionRejectMeansHelloAgainAndNoResultsUntilWelcomed() {
        var s = session()
        _ = s.handle(.started, now: 0)
        _ = s.handle(.received(welcome()), now: 0)
        let out = s.handle(.received(reject(.unknownSession)), now: 1)
        #expect(hellos(out) == 1 && !s.welcomed && !s.stopped)
        #expect(sentResults(s.handle(.resultReady(result(batch: 1, candidate: 1)), now: 2)).isEmpty)
    }

    @Test func otherRejectsAreOnlyWarnings() {
        var s = session()
        _ = s.handle(.started, now: 0)
        let out = s.handle(.received(reject(.malformed, "bad bytes")), now: 1)
        #expect(out == [.warning("coordinator rejected a message: bad bytes")])
        #expect(!s.stopped)
    }

    @Test func aBatchIsHandedToThePipelineAndBadCandidatesAreRecordedAtOnce() throws {
        var s = session()
        _ = s.handle(.started, now: 0)
        _ = s.handle(.received(welcome()), now: 0)
        let task = try TaskSpec(op: .matmul, params: ["m": 4, "n": 4, "k": 4])
        var b = try smallBatch(7)
        var bad = Tunefleet_V1_Candidate()
        bad.id = 2
        bad.schedule = [Tunefleet_V1_Knob(), Tunefleet_V1_Knob()]   // two unnamed knobs: not a schedule
        b.candidates.append(bad)
        let out = s.handle(.received(.measureBatch(b)), now: 1)
        #expect(sentResults(out) == [[7, 2]], "the bad candidate is an invalid_schedule record at once")
        #expect(out.contains(.measure(AgentBatch(batchID: 7, task: task, plan: MeasurePlan(),
                                                 candidates: [Candidate(id: 1, schedule: Schedule(["x": 1]))]))))
        #expect(s.pendingResults == 1, "kept until acknowledged like any result")
    }

    /// A reconnecting agent is sent its batches again (one may have gone to the connection
    /// it left); a batch it already holds is not measured twice.
    @Test func aBatchSentAgainAfterAReconnectIsMeasuredOnce() throws {
        var s = session()
        _ = s.handle(.started, now: 0)
        _ = s.handle(.received(welcome()), now: 0)
        var b = try smallBatch(9)
        func measures(_ out: [AgentSessionDirective]) -> Int { out.filter { if case .measure = $0 { return true } else { return false } }.count }
        #expect(measures(s.handle(.received(.measureBatch(b)), now: 1)) == 1)
        _ = s.handle(.received(welcome()), now: 2)
        #expect(measures(s.handle(.received(.measureBatch(b)), now: 3)) == 0, "the copy of a batch it holds")
        b.batchID = 10
        #expect(measures(s.handle(.received(.measureBatch(b)), now: 4)) == 1, "another batch is measured")
    }

    @Test func aBatchThatFailsItsChecksIsRecordedWholeAndEndsTheBatch() {
        var s = session()
        _ = s.handle(.started, now: 0)
        _ = s.handle(.received(welcome()), now: 0)
        var b = Tunefleet_V1_MeasureBatch()
        b.batchID = 8
        b.candidates = [Tunefleet_V1_Candidate(), Tunefleet_V1_Candidate()].enumerated().map { i, c in var c = c; c.id = Int64(i + 1); return c }
        let out = s.handle(.received(.measureBatch(b)), now: 1)
        #expect(!out.contains { if case .measure = $0 { return true } else { return false } })
        let sent = out.compactMap { if case .send(.measureResult(let r)) = $0 { return r } else { return nil } }
        #expect(sent.map(\.candidateID) == [1, 2])
        #expect(sent.map(\.status) == [.invalidSchedule, .invalidSchedule])
        #expect(sent.map(\.batchDone) == [false, true], "the last record frees the slot")
    }

    @Test func undecodableBytesStillProveTheCoordinatorAlive() {
        var s = session(heartbeat: 1, timeoutIntervals: 4)
        _ = s.handle(.started, now: 0)
        _ = s.handle(.malformed("junk"), now: 3.5)
        #expect(!s.handle(.tick(busyBatches: 0), now: 7).contains(.reconnect))
    }
}

/// A batch of one good candidate (id 1, `x=1`) of a 4x4x4 matmul.
private func smallBatch(_ id: UInt64) throws -> Tunefleet_V1_MeasureBatch {
    var b = Tunefleet_V1_MeasureBatch()
    b.batchID = id
    b.task = try TaskSpec(op: .matmul, params: ["m": 4, "n": 4, "k": 4]).wire
    b.plan = MeasurePlan().wire
    var good = Tunefleet_V1_Candidate()
    good.id = 1
    good.schedule = Schedule(["x": 1]).wire
    b.candidates = [good]
    return b
}
