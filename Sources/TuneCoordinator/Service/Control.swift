import Foundation
import TuneCore
import TuneStore
import TuneSystem
import TuneTransport
import TuneWire

extension Coordinator {
    /// Control requests from coordctl (REQ on the other side: identity, empty, payload).
    func drainControl() throws {
        guard let socket = controlSocketForControl else { return }
        while let frames = try socket.receive(wait: false) {
            guard frames.count >= 2, let payload = frames.last else { continue }
            let envelope = Array(frames.dropLast())
            let reply: Tunefleet_V1_ControlReply
            do {
                guard case .controlRequest(let req) = try Wire.decode(payload) else {
                    throw WireError.invalid("expected a control request")
                }
                reply = handleControl(req)
            } catch {
                logger.warning("rejected a control request: \(logSafe("\(error)"))")
                var r = Tunefleet_V1_ControlReply()
                r.error = "\(error)"
                reply = r
            }
            try? socket.send(envelope + [Wire.encode(.controlReply(reply))], wait: false)
        }
    }

    func handleControl(_ req: Tunefleet_V1_ControlRequest) -> Tunefleet_V1_ControlReply {
        var reply = Tunefleet_V1_ControlReply()
        switch req.request {
        case .launch(let l):
            do { reply.launched.campaignID = try launch(l) } catch { reply.error = "\(error)" }
        case .status:
            do { reply.status = try statusReport() } catch { reply.error = "\(error)" }
        case .cancel(let c):
            do {
                guard try store.campaignExists(c.campaignID) else { throw StoreError("no campaign \(c.campaignID)") }
                tune(.cancelled(campaignID: c.campaignID))
                try store.setCampaignState(c.campaignID, .cancelled)
                reply.ok = true
            } catch { reply.error = "\(error)" }
        case nil:
            reply.error = "empty control request"
        }
        return reply
    }

    private func launch(_ l: Tunefleet_V1_LaunchCampaign) throws -> Int64 {
        let budget: Int? = l.budget == 0 ? nil : Int(l.budget)
        if let budget, budget > 100_000_000 { throw WireError.invalid("budget must be 1...100000000") }
        let timeLimit: Double? = l.timeLimitSeconds == 0 ? nil : l.timeLimitSeconds
        if let timeLimit, !(timeLimit.isFinite && timeLimit >= 1 && timeLimit <= 365 * 86400) {
            throw WireError.invalid("time limit must be 1 s ... 365 days")
        }
        // With a budget, a task may take all of it; trials per task is then only an upper bound.
        // With only a time limit, the scheduler shares out trials until the time is up.
        let trials = budget ?? (l.trialsPerTask == 0 && timeLimit != nil ? ActiveJob.maxTrials : Int(l.trialsPerTask))
        guard trials >= 1, trials <= ActiveJob.maxTrials else { throw WireError.invalid("trials per task must be 1...1000000 (or give a budget)") }
        guard !l.tasks.isEmpty else { throw WireError.invalid("a campaign needs at least one task") }
        var tasks: [WeightedTask] = []
        var given: [TaskSpec: [Schedule]] = [:]
        for t in l.tasks {
            guard t.weight >= 1 else { throw WireError.invalid("task weights must be >= 1") }
            let task = try TaskSpec(wire: t.task)
            tasks.append(WeightedTask(task, weight: Int(t.weight)))
            guard t.given.count <= 100_000 else { throw WireError.invalid("at most 100000 given schedules per task") }
            if !t.given.isEmpty { given[task] = try t.given.map { g throws(WireError) in try Schedule(wire: g.knobs) } }
        }
        var classes = try l.deviceClasses.map { c throws(WireError) in try DeviceClass(wire: c) }
        if classes.isEmpty { classes = [.cpu] }
        let plan = l.hasPlan ? try MeasurePlan(wire: l.plan) : MeasurePlan()
        // Threads beyond every connected CPU agent's hardware threads: refused now, not timed as contention.
        if classes.contains(.cpu) {
            let most = dispatcher.agentsSnapshot().filter { $0.hello.profile.deviceClass == .cpu }.map(\.hello.profile.threads).max() ?? 0
            if most > 0 && plan.threads > most {
                throw WireError.invalid("threads \(plan.threads) exceed the hardware threads of every connected cpu agent (at most \(most))")
            }
        }
        let batch = l.batchSize == 0 ? settings.defaultBatchSize : Int(l.batchSize)
        guard batch <= WireLimits.standard.maxCandidatesPerBatch else { throw WireError.invalid("batch size too large") }
        let workload = Workload(name: l.workloadName.isEmpty ? "custom" : l.workloadName, tasks: tasks)
        let seed = l.seed == 0 ? UInt64.random(in: 1...UInt64.max) : l.seed
        let search = try SearchChoice(wire: l.search)
        let scheduler = try SchedulerChoice(wire: l.scheduler)
        let id = try store.createCampaign(workload: workload, trialsPerTask: trials, deviceClasses: classes,
                                          plan: plan, batchSize: batch, seed: seed, search: search, scheduler: scheduler,
                                          budget: budget, timeLimit: timeLimit)
        // Given schedules are the job's whole budget: stored now, measured as they are.
        if !given.isEmpty {
            for job in try store.activeJobs() where job.campaignID == id {
                guard let schedules = given[job.task] else { continue }
                let fresh = try store.insertCandidates(jobID: job.jobID, schedules.map { ProposedSchedule($0, Provenance(proposer: "given")) })
                try store.setJobTrials(job.jobID, max(1, fresh.count))
            }
        }
        try adopt(try store.activeJobs().filter { $0.campaignID == id })
        logger.info("campaign \(id) launched: \(workload.name), \(tasks.count) tasks x \(classes.map(\.rawValue)), \(l.trialsPerTask) trials each")
        return id
    }

    /// Lost agents are remembered for a while, and only so many.
    func pruneLost(now: Double = Monotonic.now()) {
        recentlyLost.removeAll { now - $0.at > settings.lostAgentMemorySeconds }
        if recentlyLost.count > 100 { recentlyLost.removeFirst(recentlyLost.count - 100) }
    }

    func statusReport() throws -> Tunefleet_V1_StatusReport {
        var s = Tunefleet_V1_StatusReport()
        let snapshot = dispatcher.agentsSnapshot()
        pruneLost()
        s.agentsConnected = UInt32(snapshot.count)
        s.agentsLost = UInt32(recentlyLost.count)
        for a in snapshot.prefix(settings.maxAgentsInStatus) {
            var w = Tunefleet_V1_AgentStatus()
            w.name = a.hello.name
            w.deviceClass = a.hello.profile.deviceClass.wire
            w.state = a.busy > 0 ? "busy" : "idle"
            w.deviceModel = a.hello.profile.model
            w.slots = UInt32(a.hello.slots)
            w.busySlots = UInt32(a.busy)
            w.fingerprint = a.hello.profile.fingerprint
            s.agents.append(w)
        }
        let connected = Set(snapshot.map(\.hello.name))
        for l in recentlyLost.reversed().filter({ !connected.contains($0.name) }).prefix(settings.maxLostAgentsInStatus) {
            var w = Tunefleet_V1_AgentStatus()
            w.name = l.name
            w.deviceClass = l.deviceClass.wire
            w.state = "lost"
            s.agents.append(w)
        }
        s.agentsOmitted = UInt32(max(0, snapshot.count + recentlyLost.count - s.agents.count))
        // Running campaigns and the newest finished ones: bounded however many are stored.
        let listed = try store.campaigns(finishedLimit: settings.finishedCampaignsInStatus)
        for id in campaignCurves.keys where !listed.contains(where: { $0.id == id }) { campaignCurves[id] = nil }
        for c in listed {
            var w = Tunefleet_V1_CampaignStatus()
            w.id = c.id
            w.workload = c.workload
            w.state = c.state
            w.trialsDone = UInt32(c.trialsDone)
            w.trialsTotal = UInt32(c.trialsTotal)
            w.elapsedSeconds = max(0, (c.finishedAt ?? Date().timeIntervalSince1970) - c.createdAt)
            w.timeLimitSeconds = c.deadline.map { max(0, $0 - c.createdAt) } ?? 0
            var curves = campaignCurves[c.id]
                ?? CampaignCurves(tasks: c.tasks.map { CampaignCurves.Task(name: $0.name, deviceClass: $0.deviceClass, weight: $0.weight) }, start: c.createdAt)
            // Only what was committed since the last status query is read.
            curves.ingest(try store.curveResults(campaign: c.id, after: curves.lastID))
            campaignCurves[c.id] = curves
            for dc in curves.curves.keys.sorted() {
                for p in curves.curves[dc]!.points {
                    var sample = Tunefleet_V1_CurveSample()
                    sample.deviceClass = (DeviceClass(rawValue: dc) ?? .cpu).wire
                    sample.trials = UInt32(clamping: p.trials)
                    sample.elapsedSeconds = p.elapsed
                    sample.seconds = p.seconds
                    w.curve.append(sample)
                }
            }
            w.tasks = c.tasks.map { t in
                var x = Tunefleet_V1_TaskStatus()
                x.name = t.name
                x.deviceClass = (DeviceClass(rawValue: t.deviceClass) ?? .cpu).wire
                x.trialsDone = UInt32(t.trialsDone)
                x.trialsTotal = UInt32(t.trialsTotal)
                x.bestSeconds = t.bestSeconds ?? 0
                x.vendorSeconds = t.vendorSeconds ?? 0
                x.flops = t.flops
                x.weight = UInt32(t.weight)
                x.failures = UInt32(t.failures)
                x.vendorLibrary = t.vendorLibrary ?? ""
                x.vendorNote = t.vendorNote ?? ""
                return x
            }
            s.campaigns.append(w)
        }
        let now = Monotonic.now()
        let window = min(10, max(now - startedAt, 0.001))
        s.resultsPerSecond = Double(commitTimes.filter { now - $0 <= window }.count) / window
        s.resultsTotal = UInt64(resultsTotal)
        if let problem = storageProblem {
            s.storageProblem = problem
            s.resultsWaiting = UInt32(clamping: resultsWaitingForStorage)
        }
        let spent = proposals.spent
        s.searchSeconds = spent.seconds
        s.proposals = UInt64(spent.count)
        for dc in DeviceClass.allCases {
            guard let d = models[dc] else { continue }
            var m = Tunefleet_V1_ModelStatus()
            m.deviceClass = dc.wire
            m.version = d.model.version?.id ?? 0
            m.kind = d.model.version?.kind ?? "model"
            m.records = UInt32(clamping: d.records)
            m.trainingSeconds = d.trainingSeconds
            m.recentPca = d.recentPCA ?? -1
            m.training = training.isRunning(dc)
            s.models.append(m)
        }
        return s
    }
}
