import Testing
import TuneCore
import TuneSearch
import TuneTestKit
@testable import TuneCoordinator

func job(_ id: Int64, m: Int, weight: Int = 1, budget: Int = 1000, generated: Int = 0, measured: Int? = nil,
         queued: Int = 0, batch: Int = 4) throws -> JobProgress {
    JobProgress(jobID: id, campaignID: 1, task: try TaskSpec(op: .matmul, params: ["m": m, "n": 64, "k": 64]), weight: weight,
                deviceClass: .cpu, budget: budget, generated: generated, measured: measured ?? generated, queued: queued,
                inFlight: 0, batchSize: batch, bestSeconds: nil)
}

func result(_ job: Int64, _ seconds: Double?, id: Int64 = 0) throws -> TuningRecord {
    TuningRecord(jobID: job, candidateID: id, task: try TaskSpec(op: .matmul, params: ["m": 1, "n": 1, "k": 1]),
                 schedule: Schedule(["x": Int(id)]), device: "d", deviceClass: .cpu, threads: 1,
                 status: seconds == nil ? .runtimeError : .ok, medianSeconds: seconds, provenance: Provenance(proposer: "t"))
}

@Suite struct TaskSchedulers {
    /// The few tasks that carry most of the network go first, and get most of the trials.
    @Test func flopsWeightedOrderFollowsWeightTimesFLOPs() throws {
        var s = FLOPsWeightedScheduler()
        let jobs = [try job(1, m: 64, weight: 1), try job(2, m: 64, weight: 8), try job(3, m: 1024, weight: 1), try job(4, m: 8)]
        // Warm-up: every task gets a batch, the room permitting, heaviest first.
        let warm = s.allocate(jobs, room: 12)
        #expect(warm[3]!.quota == 4 && warm[2]!.quota == 4 && warm[1]!.quota == 4 && warm[4]!.quota == 0)
        #expect(warm[3]!.priority > warm[2]!.priority && warm[2]!.priority > warm[1]!.priority && warm[1]!.priority > warm[4]!.priority)
        // After the warm-up, shares follow weight x FLOPs: job 3 (16x the FLOPs of job 1, 2x job 2) gets most.
        let after = [try job(1, m: 64, generated: 4), try job(2, m: 64, weight: 8, generated: 4),
                     try job(3, m: 1024, generated: 4), try job(4, m: 8, generated: 4)]
        var shares: [Int64: Int] = [:]
        var gen = Dictionary(uniqueKeysWithValues: after.map { ($0.jobID, $0.generated) })
        var room = 200
        while room > 0 {
            let a = s.allocate(after.map { var j = $0; j.generated = gen[j.jobID]!; return j }, room: room)
            let given = a.values.reduce(0) { $0 + $1.quota }
            if given == 0 { break }
            for (id, x) in a { gen[id]! += x.quota; shares[id, default: 0] += x.quota }
            room -= given
        }
        #expect(shares[3, default: 0] > shares[2, default: 0] && shares[2, default: 0] > shares[1, default: 0])
        #expect(shares[4, default: 0] <= shares[1, default: 0])
        #expect(room == 0, "the whole budget is spent")
    }

    @Test func gradientWarmsUpEveryTaskThenFeedsTheOneThatPaysMost() throws {
        var s = GradientScheduler(warmup: 4)
        let cold = s.allocate([try job(1, m: 64), try job(2, m: 64)], room: nil)
        #expect(cold[1]!.quota == 4 && cold[2]!.quota == 4)
        // Job 1 is slow and heavy (weight 10), job 2 fast: job 1's improvements lower the network most.
        for i in 0..<4 { s.observe(try result(1, 1.0 - Double(i) * 0.1, id: Int64(i))) }
        for i in 0..<4 { s.observe(try result(2, 0.001, id: Int64(10 + i))) }
        let next = s.allocate([try job(1, m: 64, weight: 10, generated: 4), try job(2, m: 64, generated: 4)], room: nil)
        #expect(next[1]!.priority > next[2]!.priority)
        #expect(next[1]!.quota > 0)
    }

    /// The warm-up is a quarter of a batch per task (two of eight: the first transfer-tuned
    /// and the model's first pick), the heaviest tasks dispatched (and, when the room is
    /// short, given trials) first, every warming task ahead of every warmed one.
    @Test func gradientWarmsTheHeaviestTasksFirstWithAQuarterOfABatchEach() throws {
        var s = GradientScheduler()
        let jobs = [try job(1, m: 64, batch: 8), try job(2, m: 64, weight: 8, batch: 8), try job(3, m: 1024, batch: 8), try job(4, m: 8, batch: 8)]
        let a = s.allocate(jobs, room: 4)
        #expect(a[3]!.quota == 2 && a[2]!.quota == 2 && a[1]!.quota == 0 && a[4]!.quota == 0, "a quarter of a batch each, heaviest first")
        #expect(a[3]!.priority > a[2]!.priority && a[2]!.priority > a[1]!.priority && a[1]!.priority > a[4]!.priority)
        let all = s.allocate(jobs, room: nil)
        #expect(jobs.allSatisfy { all[$0.jobID]!.quota == 2 })
        // A warm-up generated but not yet measured earns nothing more until its results are in
        // (they used to rank it first of all, and it took the next trials ahead of every other warm-up).
        let waiting = s.allocate([try job(3, m: 1024, generated: 2, measured: 0, batch: 8), try job(4, m: 8, batch: 8)], room: nil)
        #expect(waiting[3]!.quota == 0 && waiting[4]!.quota == 2)
        for i in 0..<2 { s.observe(try result(3, 1.0 - Double(i) * 0.2, id: Int64(i))) }
        // A warmed task, however promising, dispatches after every task still warming up.
        let mixed = s.allocate([try job(3, m: 1024, weight: 50, generated: 2, batch: 8), try job(4, m: 8, batch: 8)], room: nil)
        #expect(mixed[4]!.priority > mixed[3]!.priority && mixed[3]!.priority.isFinite && mixed[3]!.quota > 0)
        // Every warm-up generated, one measured: the others keep their places (heaviest first,
        // above the measured one) and get nothing more; the measured one gets the trials.
        var t = GradientScheduler()
        for i in 0..<2 { t.observe(try result(4, 1.0, id: Int64(i))) }
        let out = t.allocate([try job(1, m: 64, generated: 2, measured: 0, queued: 2, batch: 8), try job(3, m: 1024, generated: 2, measured: 0, queued: 2, batch: 8),
                              try job(4, m: 8, generated: 2, batch: 8)], room: nil)
        #expect(out[3]!.priority > out[1]!.priority && out[1]!.priority > out[4]!.priority)
        #expect(out[1]!.quota == 0 && out[3]!.quota == 0 && out[4]!.quota > 0)
        // Nothing measured and nothing queued (one task, many agents): it gets more, rather than
        // leave agents idle, and keeps its warm-up place.
        var one = GradientScheduler()
        let alone = one.allocate([try job(7, m: 64, generated: 2, measured: 0, batch: 8)], room: nil)[7]!
        #expect(alone.quota > 0 && alone.priority >= 1e100)
        #expect(one.allocate([try job(7, m: 64, generated: 2, measured: 0, queued: 2, batch: 8)], room: nil)[7]!.quota == 0, "not while its warm-up waits in the queue")
    }

    /// A task none of whose candidates verify is given up after `patience` results instead of
    /// taking trials without end (it ranks above every task with a kernel).
    @Test func gradientStopsATaskWithoutAKernel() throws {
        var s = GradientScheduler(warmup: 2)
        s.patience = 8
        for i in 0..<9 { s.observe(try result(1, nil, id: Int64(i))) }
        let a = s.allocate([try job(1, m: 64, generated: 9), try job(2, m: 64, generated: 0)], room: nil)
        #expect(a[1]!.done && a[1]!.quota == 0)
        var early = GradientScheduler(warmup: 2)
        early.patience = 8
        for i in 0..<3 { early.observe(try result(1, nil, id: Int64(i))) }
        let b = early.allocate([try job(1, m: 64, generated: 3)], room: nil)
        #expect(!b[1]!.done && b[1]!.quota > 0, "a few failures earn it more trials first")
    }

    /// A task that stopped improving gets nothing more and is declared done.
    @Test func gradientGivesATaskWithoutImprovementNothing() throws {
        var s = GradientScheduler(warmup: 4)
        s.patience = 8
        for i in 0..<20 { s.observe(try result(1, 0.5, id: Int64(i))) }
        for i in 0..<20 { s.observe(try result(2, 1.0 / Double(i + 1), id: Int64(100 + i))) }
        let a = s.allocate([try job(1, m: 64, generated: 20), try job(2, m: 64, generated: 20)], room: nil)
        #expect(a[1]!.quota == 0 && a[1]!.done)
        #expect(a[2]!.quota > 0 && !a[2]!.done)
    }
}

/// A synthetic landscape over a real-looking space: six knobs, a constraint, one optimum.
struct Landscape: ScheduleSpace {
    let knobs = ["a", "b", "c", "d", "e", "f"].map { KnobDomain($0, Array(0..<8)) }
    func constraintViolation(_ s: Schedule) -> String? {
        (s["a"]! + s["b"]!) > 12 ? "a + b > 12" : nil
    }
    static func seconds(_ s: Schedule) -> Double {
        let target = ["a": 5, "b": 6, "c": 1, "d": 7, "e": 3, "f": 2]
        var d = 0.0
        for (k, v) in target { d += Double((s[k]! - v) * (s[k]! - v)) }
        return 1e-3 * (1 + d)
    }
}

@Suite struct EvolutionarySearchBehaviour {
    let task = try! TaskSpec(op: .matmul, params: ["m": 64, "n": 64, "k": 64])

    func context(generated: Set<String> = [], model: (any CostModel)?) -> SearchContext {
        SearchContext(task: task, device: DeviceProfile(deviceClass: .cpu, model: "x"), threads: 1, space: Landscape(),
                      generated: generated, model: model)
    }

    /// A model that knows the landscape only roughly (a hash-noise term), as a real one would.
    let roughModel = FixedCostModel { _, s in
        -Landscape.seconds(s) * (1 + 0.3 * Double(Int(s.hash64.prefix(4), radix: 16)! % 100) / 100)
    }

    @Test func proposalsAreValidNewAndCarryTheModel() {
        var e = EvolutionarySearch(seed: 1)
        let first = e.propose(count: 16, context: context(model: roughModel))
        #expect(first.count == 16)
        #expect(first.allSatisfy { Landscape().isValid($0.schedule) })
        #expect(Set(first.map(\.schedule)).count == 16)
        #expect(first.filter { $0.provenance.proposer == "evolutionary" && $0.provenance.predicted != nil }.count >= 14,
                "all but the exploration share are the model's picks")
        let again = e.propose(count: 16, context: context(generated: Set(first.map(\.schedule.hash64)), model: roughModel))
        #expect(Set(again.map(\.schedule.hash64)).isDisjoint(with: first.map(\.schedule.hash64)))
        var f = EvolutionarySearch(seed: 1)
        #expect(f.propose(count: 16, context: context(model: roughModel)) == first, "deterministic given the seed")
    }

    /// The exploration share holds over the job, not per proposal: two model slots stay the
    /// model's (rounding up gave one of them to a random schedule), and 100 proposed in
    /// pieces hold 10 random ones.
    @Test func explorationIsAShareOfTheJobNotOfEachProposal() {
        var e = EvolutionarySearch(seed: 5)
        var generated = Set<String>()
        var proposed: [ProposedSchedule] = []
        for count in [2, 2, 8, 8, 1, 3, 16, 20, 40] {
            let p = e.propose(count: count, context: context(generated: generated, model: roughModel))
            #expect(p.count == count)
            if proposed.isEmpty { #expect(p.allSatisfy { $0.provenance.proposer == "evolutionary" }, "\(p.map(\.provenance.proposer))") }
            proposed += p
            generated.formUnion(p.map(\.schedule.hash64))
        }
        #expect(proposed.count == 100)
        #expect(proposed.filter { $0.provenance.proposer == "random" }.count == 10)
    }

    @Test func withoutAModelItSearchesAtRandom() {
        var e = EvolutionarySearch(seed: 3)
        let p = e.propose(count: 8, context: context(model: nil))
        #expect(p.count == 8 && p.allSatisfy { $0.provenance.proposer == "random" })
    }

    /// On a landscape random search barely scratches, model-guided evolution finds close to
    /// the optimum with the same number of measurements.
    @Test func improvesOnASyntheticLandscapeWhereRandomDoesNot() throws {
        let fleet = ReplayFleet(space: { _ in Landscape() }, seconds: { _, s in Landscape.seconds(s) })
        func best(_ search: SearchChoice, seed: UInt64) throws -> Double {
            var sim = try TuningSimulation(fleet: fleet, device: DeviceProfile(deviceClass: .cpu, model: "x"))
            try sim.tellModel(roughModel)
            _ = try sim.launch(tasks: [WeightedTask(task, weight: 1)], trialsPerTask: 48, batchSize: 8, seed: seed, search: search)
            #expect(try sim.run())
            #expect(sim.committed.count == 48 && Set(sim.committed.map(\.schedule)).count == 48)
            return sim.committed.compactMap(\.okSeconds).min()!
        }
        var evo = 0.0, rnd = 0.0
        for seed in 1...5 as ClosedRange<UInt64> {
            evo += try best(.evolutionary, seed: seed)
            rnd += try best(.random, seed: seed)
        }
        #expect(evo < 0.5 * rnd, "evolutionary \(evo / 5) vs random \(rnd / 5) (optimum 0.001)")
    }
}

@Suite struct CampaignBudgets {
    @Test(arguments: [SchedulerChoice.roundRobin, .flops, .gradient])
    func aBudgetIsSpentExactlyAcrossARestart(scheduler: SchedulerChoice) throws {
        let fleet = try syntheticFleet(points: 40)
        var sim = try TuningSimulation(fleet: fleet, device: replayCPU)
        _ = try sim.launch(trialsPerTask: 0, batchSize: 3, seed: 2, scheduler: scheduler, budget: 50)
        #expect(try !sim.run(stopAfterResults: 20))
        try sim.restart()
        #expect(try sim.run())
        #expect(sim.committed.count == 50, "\(scheduler): exactly the budget, \(sim.committed.count) measured")
        for (_, records) in Dictionary(grouping: sim.committed, by: \.jobID) {
            #expect(Set(records.map(\.schedule)).count == records.count)
        }
        #expect(try sim.store.campaigns().first?.state == "completed")
    }
}

@Suite struct SchedulersFeedManyAgents {
    func job(_ id: Int64, queueBatches: Int) throws -> JobProgress {
        var p = JobProgress(jobID: id, campaignID: 1, task: try TaskSpec(op: .elementwise, params: ["n": 1024 * Int(id)]), weight: 1,
                            deviceClass: .cpu, budget: 1000, generated: 0, measured: 0, queued: 0, inFlight: 0, batchSize: 4,
                            bestSeconds: nil)
        p.queueBatches = queueBatches
        return p
    }

    /// With two batches of depth (a couple of agents) each job gets at most a batch per tick;
    /// with many agent slots per job the queues grow so that every agent can be fed.
    @Test func queueDepthFollowsTheAgentSlots() throws {
        var rr = RoundRobinScheduler()
        let few = rr.allocate([try job(1, queueBatches: 2), try job(2, queueBatches: 2)], room: 1000)
        #expect(few.values.map(\.quota) == [4, 4])
        let many = rr.allocate([try job(1, queueBatches: 16), try job(2, queueBatches: 16)], room: 1000)
        #expect(many.values.allSatisfy { $0.quota == 60 }, "\(many.values.map(\.quota))")
        let unbudgeted = rr.allocate([try job(1, queueBatches: 16)], room: nil)
        #expect(unbudgeted[1]?.quota == 64)
        var flops = FLOPsWeightedScheduler()
        #expect((flops.allocate([try job(1, queueBatches: 16)], room: nil)[1]?.quota ?? 0) > 8)
    }
}
