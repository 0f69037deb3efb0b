import Testing
import TuneCore
import TuneStore
import TuneSystem
import TuneWire
@testable import TuneCoordinator

private func profile(_ dc: DeviceClass, _ model: String = "m") -> DeviceProfile {
    DeviceProfile(deviceClass: dc, model: model)
}

private func hello(_ name: String, _ dc: DeviceClass = .cpu, slots: Int = 1, instance: String? = nil) -> AgentHello {
    AgentHello(name: name, instance: instance ?? name, profile: profile(dc, name), slots: slots)
}

private func job(_ id: Int64, _ dc: DeviceClass = .cpu, candidates: Range<Int64>, batch: Int = 2, priority: Double = 1) throws -> JobQueue {
    JobQueue(jobID: id, task: try TaskSpec(op: .matmul, params: ["m": 4, "n": 4, "k": 4]), deviceClass: dc, plan: MeasurePlan(),
             batchSize: batch, priority: priority,
             pending: candidates.map { Candidate(id: $0, schedule: Schedule(["x": Int($0)])) }, baselines: [])
}

private func dispatched(_ ds: [Directive]) -> [(AgentKey, DispatchedBatch)] {
    ds.compactMap { if case .dispatch(let k, let b) = $0 { return (k, b) } else { return nil } }
}

@Suite struct DispatcherBehaviour {
    let a = AgentKey(Array("a".utf8)), b = AgentKey(Array("b".utf8))

    @Test func helloIsWelcomedAndFreeSlotsGetWork() throws {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<6)), now: 0)
        let out = d.handle(.hello(a, hello("a", slots: 2)), now: 0)
        #expect(out.first == .welcome(a))
        let batches = dispatched(out)
        #expect(batches.count == 2)
        #expect(batches.map { $0.1.candidates.map(\.id) } == [[1, 2], [3, 4]])
        #expect(batches[0].1.plan.includeVendorBaseline && !batches[1].1.plan.includeVendorBaseline,
                "the vendor library is timed once per device and job")
    }

    /// Fewer candidates than the idle agents could take are shared out, not handed whole to
    /// the first agent while the other sits idle.
    @Test func aShortQueueIsSharedAmongIdleAgents() throws {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.hello(a, hello("a")), now: 0)
        _ = d.handle(.hello(b, hello("b")), now: 0)
        let out = dispatched(d.handle(.jobAdded(try job(1, candidates: 1..<7, batch: 8)), now: 0))
        #expect(out.map { $0.1.candidates.count } == [3, 3])
        #expect(Set(out.map(\.0)) == [a, b])
        // A full queue still goes out in whole batches.
        var e = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = e.handle(.hello(a, hello("a")), now: 0)
        _ = e.handle(.hello(b, hello("b")), now: 0)
        #expect(dispatched(e.handle(.jobAdded(try job(1, candidates: 1..<21, batch: 8)), now: 0)).map { $0.1.candidates.count } == [8, 8])
    }

    @Test func workGoesOnlyToMatchingDeviceClasses() throws {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, .cuda, candidates: 1..<3)), now: 0)
        #expect(dispatched(d.handle(.hello(a, hello("a", .cpu)), now: 0)).isEmpty)
        #expect(dispatched(d.handle(.hello(b, hello("b", .cuda)), now: 0)).map(\.0) == [b])
    }

    @Test func heavierJobsGoFirst() throws {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<3, priority: 1)), now: 0)
        _ = d.handle(.jobAdded(try job(2, candidates: 10..<12, priority: 100)), now: 0)
        #expect(dispatched(d.handle(.hello(a, hello("a")), now: 0)).first?.1.jobID == 2)
    }

    @Test func aResultIsCommittedAndFreesTheSlot() throws {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<5, batch: 1)), now: 0)
        let first = dispatched(d.handle(.hello(a, hello("a")), now: 0))[0].1
        let vendor = d.handle(.result(a, batchID: first.batchID, MeasureResult(candidateID: 0, status: .ok, samples: [1])), now: 1)
        #expect(vendor.contains { if case .commitBaseline(a, first.batchID, 1, _, _) = $0 { return true }; return false })
        let out = d.handle(.result(a, batchID: first.batchID, MeasureResult(candidateID: 1, status: .ok, samples: [1])), now: 1)
        #expect(out.contains { if case .commit(a, first.batchID, let r, _, _) = $0 { return r.candidateID == 1 }; return false })
        #expect(dispatched(out).map { $0.1.candidates.map(\.id) } == [[2]], "the freed slot is refilled at once")
    }

    /// A cancelled job's batches in flight are called back from their agents at once, their
    /// slots go to other work, and a result that still arrives is refused, not committed.
    @Test func aCancelledJobsBatchesAreCalledBackAndTheirLateResultsRefused() throws {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<5, batch: 2)), now: 0)
        _ = d.handle(.hello(a, hello("a")), now: 0)
        _ = d.handle(.hello(b, hello("b")), now: 0)
        #expect(d.inFlightCounts()[1] == 4)
        _ = d.handle(.jobAdded(try job(2, candidates: 10..<12, batch: 2)), now: 0)
        let out = d.handle(.jobCancelled(jobID: 1), now: 1)
        let calls = out.compactMap { if case .cancelBatches(let k, let ids) = $0 { return (k, ids) } else { return nil } }
        #expect(calls.map(\.0) == [a, b] && calls.allSatisfy { $0.1.count == 1 })
        #expect(d.inFlightCounts()[1] == nil)
        #expect(dispatched(out).map(\.1.jobID) == [2, 2], "the freed slots take the next job's work")
        let late = d.handle(.result(a, batchID: calls[0].1[0], MeasureResult(candidateID: 1, status: .ok, samples: [1])), now: 2)
        #expect(late.contains { if case .refuseResult(a, _, 1, _) = $0 { return true }; return false })
        #expect(!late.contains { if case .commit = $0 { return true }; return false })
        // A job that simply finishes calls nothing back.
        #expect(!d.handle(.jobRemoved(jobID: 2), now: 3).contains { if case .cancelBatches = $0 { return true }; return false })
    }

    /// An agent that says goodbye hands its work back at once: unanswered candidates go to
    /// the front of the queue (no lost attempt counted), an answer awaiting its commit is
    /// still committed, and the agent gets nothing more.
    @Test func aGoodbyeHandsTheBatchBackAtOnceWithoutALostAttempt() throws {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<4, batch: 3)), now: 0)
        let batch = dispatched(d.handle(.hello(a, hello("a")), now: 0))[0].1
        let answered = d.handle(.result(a, batchID: batch.batchID, MeasureResult(candidateID: 1, status: .ok, samples: [1])), now: 1)
        #expect(answered.contains { if case .commit = $0 { return true }; return false })
        let out = d.handle(.goodbye(a, reason: "SIGTERM"), now: 1)
        #expect(out.contains(.agentLeft(a, name: "a", reason: "SIGTERM", requeued: 2)))
        #expect(!out.contains { if case .attemptsLost = $0 { return true }; return false })
        #expect(d.pendingCount(jobID: 1) == 2 && d.agentCount == 0)
        _ = d.handle(.committed([(batchID: batch.batchID, candidateID: Int64(1))]), now: 2)
        #expect(d.inFlightCounts()[1] == nil)
        let next = dispatched(d.handle(.hello(b, hello("b")), now: 3))
        #expect(next.map { $0.1.candidates.map(\.id) } == [[2, 3]], "the handed-back candidates go to the next agent")
        #expect(!d.handle(.tick, now: 3).contains(.heartbeat(a)), "a departed agent gets nothing more")
    }

    @Test func aSilentAgentIsLostAndItsCandidatesRequeued() throws {
        var s = DispatchSettings()
        s.heartbeatInterval = 1
        s.agentTimeoutIntervals = 3
        var d = Dispatcher(settings: s, firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<3)), now: 0)
        _ = d.handle(.hello(a, hello("a")), now: 0)
        #expect(d.pendingCount(jobID: 1) == 0)
        #expect(!d.handle(.tick, now: 2.5).contains { if case .agentLost = $0 { return true }; return false })
        let out = d.handle(.tick, now: 3.5)
        #expect(out.contains(.agentLost(a, name: "a", deviceClass: .cpu, requeued: 2)))
        let next = dispatched(d.handle(.hello(b, hello("b")), now: 4))
        #expect(next.first?.1.candidates.map(\.id) == [1, 2])
        #expect(next.first?.1.plan.includeVendorBaseline == true, "the lost baseline is asked for again")
    }

    @Test func candidatesLostTooOftenAreGivenUp() throws {
        var s = DispatchSettings()
        s.heartbeatInterval = 1
        s.agentTimeoutIntervals = 1
        s.maxLostAttempts = 2
        var d = Dispatcher(settings: s, firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<2, batch: 1)), now: 0)
        _ = d.handle(.hello(a, hello("a")), now: 0)
        _ = d.handle(.tick, now: 2)
        _ = d.handle(.hello(b, hello("b")), now: 2)
        let out = d.handle(.tick, now: 4)
        #expect(out.contains(.giveUp(candidateIDs: [1])))
        #expect(d.pendingCount(jobID: 1) == 0)
    }

    /// Lost attempts are counted durably and a resumed job carries them: a restart does not
    /// give a candidate that kills agents fresh chances.
    @Test func lostAttemptsAreReportedAndResumed() throws {
        var s = DispatchSettings()
        s.heartbeatInterval = 1
        s.agentTimeoutIntervals = 1
        s.maxLostAttempts = 3
        var d = Dispatcher(settings: s, firstBatchID: 1)
        var q = try job(1, candidates: 1..<2, batch: 1)
        q.lostAttempts = [1: 2]
        _ = d.handle(.jobAdded(q), now: 0)
        _ = d.handle(.hello(a, hello("a")), now: 0)
        let out = d.handle(.tick, now: 2)
        #expect(out.contains(.attemptsLost(candidateIDs: [1])))
        #expect(out.contains(.giveUp(candidateIDs: [1])), "the third loss, counting the two before the restart")
    }

    @Test func theSchedulersPriorityOrdersDispatch() throws {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<3, batch: 1, priority: 10)), now: 0)
        _ = d.handle(.jobAdded(try job(2, candidates: 3..<5, batch: 1, priority: 1)), now: 0)
        _ = d.handle(.prioritySet(jobID: 2, 100), now: 0)
        let out = dispatched(d.handle(.hello(a, hello("a")), now: 0))
        #expect(out.first?.1.jobID == 2)
    }

    @Test func aReconnectingAgentKeepsItsBatches() throws {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<3)), now: 0)
        let batch = dispatched(d.handle(.hello(a, hello("x", instance: "i1")), now: 0))[0].1
        let out = d.handle(.hello(b, hello("x", instance: "i1")), now: 1)
        // No new work, and its batch again to the new connection: sent while the agent was
        // reconnecting, it would have gone to the identity it left (the agent ignores a copy).
        #expect(out == [.welcome(b), .dispatch(b, batch)])
        _ = d.handle(.result(b, batchID: batch.batchID, MeasureResult(candidateID: 2, status: .ok, samples: [1])), now: 1.5)
        let again = dispatched(d.handle(.hello(a, hello("x", instance: "i1")), now: 1.6))
        #expect(again.map { $0.1.candidates.map(\.id) } == [[1]], "only what is still unanswered goes again")
        let done = d.handle(.result(a, batchID: batch.batchID, MeasureResult(candidateID: 1, status: .ok, samples: [1])), now: 2)
        #expect(done.contains { if case .commit(a, _, _, _, _) = $0 { return true }; return false })
    }

    @Test func strangersAreAskedToSayHello() {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        #expect(d.handle(.heard(a), now: 0) == [.reject(a, .unknownSession, "unknown session: say hello")])
        let r = d.handle(.result(a, batchID: 5, MeasureResult(candidateID: 3, status: .ok, samples: [1])), now: 0)
        #expect(r == [.reject(a, .unknownSession, "unknown session: say hello")])
    }

    @Test func aLateDuplicateIsStillCommittedOnceByTheStore() throws {
        // The dispatcher forwards a late copy from the same agent reconnected (its batch);
        // the store's unique key makes the repeat a no-op; a batch never issued is refused. Both halves for real: the
        // dispatcher's directives are carried out against a Store on a temporary file.
        let dir = try makeTemporaryDirectory(prefix: "late-duplicate")
        defer { removeTree(dir) }
        let store = try Store(path: dir + "/t.db")
        _ = try store.createCampaign(workload: Workload(name: "w", tasks: [WeightedTask(try TaskSpec(op: .matmul, params: ["m": 4, "n": 4, "k": 4]), weight: 1)]),
                                     trialsPerTask: 2, deviceClasses: [.cpu], plan: MeasurePlan(), batchSize: 2, seed: 1)
        let active = try #require(try store.activeJobs().first)
        let stored = try store.insertCandidates(jobID: active.jobID, [Schedule(["x": 1]), Schedule(["x": 2])])
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.jobAdded(JobQueue(jobID: active.jobID, task: active.task, deviceClass: .cpu, plan: MeasurePlan(), batchSize: 2,
                                        priority: 1, pending: stored, baselines: [])), now: 0)
        let batch = try #require(dispatched(d.handle(.hello(a, hello("a")), now: 0)).first?.1)
        var committed: [Int64?] = []
        func deliver(_ key: AgentKey, batchID: UInt64, _ r: MeasureResult, now: Double) throws {
            for directive in d.handle(.result(key, batchID: batchID, r), now: now) {
                if case .commit(_, _, let result, let agent, let device) = directive {
                    committed.append(try store.commit(result, agent: agent, device: device))
                }
            }
        }
        let result = MeasureResult(candidateID: stored[1].id, status: .ok, samples: [1e-3])
        try deliver(a, batchID: batch.batchID, result, now: 1)
        // The same agent reconnects under a new identity and resends the unacknowledged result.
        _ = d.handle(.hello(b, hello("a")), now: 2)
        try deliver(b, batchID: batch.batchID, result, now: 3)
        let forged = d.handle(.result(b, batchID: 999, result), now: 4)
        #expect(forged.contains { if case .refuseResult(b, 999, stored[1].id, _) = $0 { return true }; return false })
        #expect(committed.count == 2, "the dispatcher forwarded both copies of the batch's own result")
        #expect(committed.compactMap { $0 } == [active.jobID], "only the first copy was new to the store")
        #expect(try store.export(campaign: nil).map(\.candidate) == [stored[1].id])
    }

    /// Results belong to the session their batch was sent to: another agent's batch, a
    /// batch never issued, a candidate not in the batch are refused and never committed.
    @Test func aResultIsTakenOnlyFromTheSessionItsBatchWasSentTo() throws {
        var d = Dispatcher(settings: DispatchSettings(), firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<3)), now: 0)
        let batch = try #require(dispatched(d.handle(.hello(a, hello("a")), now: 0)).first?.1)
        _ = d.handle(.hello(b, hello("gpu", .cuda)), now: 0)
        func commits(_ ds: [Directive]) -> Int { ds.filter { if case .commit = $0 { return true }; return false }.count }
        func refused(_ ds: [Directive]) -> Bool { ds.contains { if case .refuseResult = $0 { return true }; return false } }
        let ok = MeasureResult(candidateID: 1, status: .ok, samples: [1])
        let stolen = d.handle(.result(b, batchID: batch.batchID, ok), now: 1)
        #expect(refused(stolen) && commits(stolen) == 0, "another agent's batch")
        let invented = d.handle(.result(b, batchID: 424_242, ok), now: 1)
        #expect(refused(invented) && commits(invented) == 0, "a batch never issued")
        let stray = d.handle(.result(a, batchID: batch.batchID, MeasureResult(candidateID: 77, status: .ok, samples: [1])), now: 1)
        #expect(refused(stray) && commits(stray) == 0, "a candidate not in the batch")
        let baseline = d.handle(.result(b, batchID: batch.batchID, MeasureResult(candidateID: 0, status: .ok, samples: [1])), now: 1)
        #expect(refused(baseline), "another agent's vendor baseline")
        #expect(commits(d.handle(.result(a, batchID: batch.batchID, ok), now: 1)) == 1, "the owner's result goes through")
    }

    /// A result is answered but not committed (the transaction failed): if its agent is then
    /// lost, the candidate is requeued with the unanswered ones, never left in limbo; once
    /// committed, it is not.
    @Test func anUncommittedResultIsRequeuedWithItsLostAgent() throws {
        var s = DispatchSettings()
        s.heartbeatInterval = 1
        s.agentTimeoutIntervals = 3
        var d = Dispatcher(settings: s, firstBatchID: 1)
        _ = d.handle(.jobAdded(try job(1, candidates: 1..<5, batch: 2)), now: 0)
        let batch = try #require(dispatched(d.handle(.hello(a, hello("a")), now: 0)).first?.1)
        #expect(batch.candidates.map(\.id) == [1, 2])
        _ = d.handle(.result(a, batchID: batch.batchID, MeasureResult(candidateID: 0, status: .ok, samples: [1])), now: 0.5)
        _ = d.handle(.result(a, batchID: batch.batchID, MeasureResult(candidateID: 1, status: .ok, samples: [1])), now: 0.5)
        _ = d.handle(.result(a, batchID: batch.batchID, MeasureResult(candidateID: 2, status: .ok, samples: [1])), now: 0.5)
        _ = d.handle(.committed([(batchID: batch.batchID, candidateID: Int64(2))]), now: 0.6)
        // Answered but uncommitted, the batch no longer holds the slot: the agent got 3 and 4.
        let lost = d.handle(.tick, now: 10)
        #expect(lost.contains { if case .agentLost(a, _, _, 3) = $0 { return true }; return false }, "1 (never committed), 3 and 4")
        let next = dispatched(d.handle(.hello(b, hello("b", slots: 4)), now: 10)).flatMap { $0.1.candidates.map(\.id) }
        #expect(Set(next) == [1, 3, 4], "candidate 2 was committed, 1 was not")
    }
}
