import Testing
import CPUKernels
import Dispatch
import Synchronization
import TuneAgent
import TuneCore
import TuneSystem
import TuneTransport
import TuneWire
#if canImport(Glibc)
import Glibc
#endif

/// Plays the coordinator against a real tune-agent process, with the test-only fault knob
/// switched on in that agent's environment.
final class FakeCoordinator {
    let context = ZMQContext()
    let socket: ZMQSocket
    let endpoint: String
    var agent: AgentKeyBytes?
    typealias AgentKeyBytes = [UInt8]

    init() throws {
        socket = try ZMQSocket(context, .router)
        endpoint = try socket.bind("tcp://127.0.0.1:*")
    }

    /// Next message within `timeout` seconds. Like a real coordinator it heartbeats the
    /// agent and welcomes every hello (the agent reconnects when it hears nothing).
    func next(timeout: Double, autoWelcome: Bool = true) throws -> Body? {
        let deadline = Monotonic.now() + timeout
        var lastBeat = 0.0
        while Monotonic.now() < deadline {
            if agent != nil && Monotonic.now() - lastBeat > 0.2 {
                try send(.heartbeat(Tunefleet_V1_Heartbeat()))
                lastBeat = Monotonic.now()
            }
            guard try ZMQPoller.pollInput([socket], timeout: 0.1)[0], let frames = try socket.receive() else { continue }
            agent = frames[0]
            let body = try Wire.decode(frames[1])
            switch body {
            case .heartbeat: continue
            case .hello where autoWelcome && helloSeen:
                var w = Tunefleet_V1_Welcome()
                w.heartbeatIntervalMs = 500
                try send(.welcome(w))
                continue
            case .hello: helloSeen = true
            default: break
            }
            return body
        }
        return nil
    }
    var helloSeen = false

    func send(_ body: Body) throws {
        try socket.send([agent!, Wire.encode(body)])
    }
}

/// A real tune-agent with the test-only fault knob on, talking to `coordinator`.
private func startFaultyAgent(_ coordinator: FakeCoordinator, work: String) throws -> ChildProcess {
    let bin = try #require(executableDirectory())
    var env: [String: String] = [:]
    for key in ["PATH", "HOME", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"] { env[key] = environmentValue(key) }
    env["TUNEFLEET_TEST_FAULTS"] = "1"
    return try ChildProcess(executable: bin + "/tune-agent",
                            arguments: ["--coordinator", coordinator.endpoint, "--name", "faulty", "--work-dir", work,
                                        "--heartbeat", "0.5"],
                            environment: env, stdout: .file(work + "/agent.log"), stderr: .file(work + "/agent.log"),
                            newProcessGroup: true)
}

/// Waits for the agent's hello and welcomes it (heartbeats every 0.5 s).
private func welcome(_ coordinator: FakeCoordinator) throws -> Tunefleet_V1_Hello? {
    guard case .hello(let hello)? = try coordinator.next(timeout: 60) else { return nil }
    var w = Tunefleet_V1_Welcome()
    w.heartbeatIntervalMs = 500
    try coordinator.send(.welcome(w))
    return hello
}

/// A batch of one valid `point` of the task's space per candidate, each with its `fault`
/// knob (0: none, 1: SIGSEGV, 2: hang, 3: wrong answer).
private func faultBatch(_ id: UInt64, task: TaskSpec, point: Schedule, plan: MeasurePlan, _ candidates: [(Int64, Int)]) -> Tunefleet_V1_MeasureBatch {
    var b = Tunefleet_V1_MeasureBatch()
    b.batchID = id
    b.task = task.wire
    b.plan = plan.wire
    b.candidates = candidates.map { cid, fault in
        var v = point.values
        if fault != 0 { v["fault"] = fault }
        var c = Tunefleet_V1_Candidate()
        c.id = cid
        c.schedule = Schedule(v).wire
        return c
    }
    return b
}

/// A valid point of the agent's own space for `task` (the same probe the agent runs).
private func agentPoint(_ task: TaskSpec, seed: UInt64) throws -> Schedule {
    var rng = SplitMix64(seed: seed)
    return try #require(CPUKernels.space(for: task, device: CPUProbe.probe(compiler: CompilerSettings()), threads: 1)?.sample(using: &rng))
}

@Suite(.serialized) struct AgentFaultIsolation {
    @Test func crashingAndHangingKernelsCostOneRecordEachAndTheAgentKeepsMeasuring() throws {
        let coordinator = try FakeCoordinator()
        let work = try makeTemporaryDirectory(prefix: "agent-faults")
        let agent = try startFaultyAgent(coordinator, work: work)
        defer { kill(-agent.pid, SIGKILL); _ = agent.wait(timeout: 5); removeTree(work) }

        guard let hello = try welcome(coordinator) else { Issue.record("no hello"); return }
        #expect(hello.agentName == "faulty")
        #expect(hello.device.deviceClass == .cpu)

        let task = try TaskSpec(op: .matmul, params: ["m": 8, "n": 16, "k": 8])
        var plan = MeasurePlan()
        plan.runTimeoutSeconds = 2
        plan.repeats = 2
        plan.targetSpread = 0   // exactly two samples each
        plan.minRepeatSeconds = 0.001
        let faults: [(Int64, Int)] = [(1, 1), (2, 2), (3, 0), (4, 3), (5, 0)]  // (candidate id, fault)
        try coordinator.send(.measureBatch(faultBatch(1, task: task, point: try agentPoint(task, seed: 3), plan: plan, faults)))

        var statuses: [Int64: MeasureResult] = [:]
        while statuses.count < faults.count {
            guard let body = try coordinator.next(timeout: 120) else { break }
            guard case .measureResult(let r) = body else { continue }
            statuses[r.candidateID] = try MeasureResult(wire: r)
            var ack = Tunefleet_V1_ResultAck()
            ack.batchID = r.batchID
            ack.candidateID = r.candidateID
            try coordinator.send(.resultAck(ack))
        }
        #expect(statuses[1]?.status == .runtimeError)
        #expect(statuses[1]?.errorText.contains("SIGSEGV") == true, "\(statuses[1]?.errorText ?? "")")
        #expect(statuses[2]?.status == .runTimeout)
        #expect(statuses[3]?.status == .ok)
        #expect(statuses[3]?.samples.count == 2)
        #expect(statuses[4]?.status == .wrongAnswer)
        #expect(statuses[5]?.status == .ok, "the agent kept measuring after the crash and the hang")
        #expect(agent.poll() == nil, "the agent itself is still alive")
    }

    /// SIGTERM while the agent times a hanging kernel: it stops the batch, sends what it
    /// finished, says goodbye and exits cleanly, instead of going silent until the
    /// coordinator's heartbeat timeout.
    @Test func sigtermHandsTheBatchBackWithAGoodbyeAndExitsCleanly() throws {
        let coordinator = try FakeCoordinator()
        let work = try makeTemporaryDirectory(prefix: "agent-sigterm")
        let agent = try startFaultyAgent(coordinator, work: work)
        defer { kill(-agent.pid, SIGKILL); _ = agent.wait(timeout: 5); removeTree(work) }
        guard try welcome(coordinator) != nil else { Issue.record("no hello"); return }
        let task = try TaskSpec(op: .matmul, params: ["m": 8, "n": 16, "k": 8])
        var plan = MeasurePlan()
        plan.runTimeoutSeconds = 120
        plan.minRepeatSeconds = 0.001
        try coordinator.send(.measureBatch(faultBatch(4, task: task, point: try agentPoint(task, seed: 9), plan: plan, [(1, 0), (2, 2), (3, 0)])))
        guard case .measureResult(let first)? = try coordinator.next(timeout: 120) else { Issue.record("no first result"); return }
        #expect(first.candidateID == 1)
        kill(agent.pid, SIGTERM)   // now inside candidate 2's endless loop
        var goodbye: Tunefleet_V1_Goodbye?
        var afterwards: [Int64] = []
        while goodbye == nil, let body = try coordinator.next(timeout: 60, autoWelcome: false) {
            switch body {
            case .goodbye(let g): goodbye = g
            case .measureResult(let r): afterwards.append(r.candidateID)
            default: continue
            }
        }
        #expect(goodbye != nil, "the agent said goodbye")
        #expect(afterwards.allSatisfy { $0 == 1 }, "nothing of the stopped batch but what it finished: \(afterwards)")
        guard let status = agent.wait(timeout: 30) else { Issue.record("the agent did not exit"); return }
        #expect(status == .exited(0))
    }

    /// A batch called back while its agent times a hanging kernel stops at once: the worker
    /// is killed, nothing more of that batch is reported, and the next batch's result is the
    /// first thing the agent sends, long before the hang's 120 s limit would have ended it.
    @Test func aCalledBackBatchStopsMidKernelAndTheNextBatchIsMeasured() throws {
        let coordinator = try FakeCoordinator()
        let work = try makeTemporaryDirectory(prefix: "agent-cancel")
        let agent = try startFaultyAgent(coordinator, work: work)
        defer { kill(-agent.pid, SIGKILL); _ = agent.wait(timeout: 5); removeTree(work) }
        guard try welcome(coordinator) != nil else { Issue.record("no hello"); return }
        let task = try TaskSpec(op: .matmul, params: ["m": 8, "n": 16, "k": 8])
        let point = try agentPoint(task, seed: 5)
        var plan = MeasurePlan()
        plan.runTimeoutSeconds = 120
        plan.minRepeatSeconds = 0.001
        func batch(_ id: UInt64, _ candidates: [(Int64, Int)]) -> Tunefleet_V1_MeasureBatch {
            faultBatch(id, task: task, point: point, plan: plan, candidates)
        }
        try coordinator.send(.measureBatch(batch(1, [(1, 0), (2, 2), (3, 0)])))   // 2 hangs
        guard case .measureResult(let first)? = try coordinator.next(timeout: 120) else { Issue.record("no first result"); return }
        #expect(first.candidateID == 1 && first.status == .ok)
        // The agent is now in candidate 2's endless loop.
        var cancel = Tunefleet_V1_CancelBatches()
        cancel.batchIds = [1]
        cancel.reason = "campaign cancelled"
        try coordinator.send(.cancelBatches(cancel))
        try coordinator.send(.measureBatch(batch(2, [(10, 0)])))
        var next: Tunefleet_V1_MeasureResult?
        let deadline = Monotonic.now() + 60   // half the hang's limit: only an abort gets there
        while next == nil, Monotonic.now() < deadline, let body = try coordinator.next(timeout: deadline - Monotonic.now()) {
            if case .measureResult(let r) = body, r.candidateID != 1 { next = r }
        }
        #expect(next?.candidateID == 10 && next?.status == .ok, "the called-back batch reported nothing more: \(String(describing: next))")
        #expect(agent.poll() == nil)
    }
}


@Suite struct CompileCache {
    @Test func theSameSourceBuiltConcurrentlyCompilesOnceAndBothSucceed() throws {
        let dir = try makeTemporaryDirectory(prefix: "cc-cache")
        defer { removeTree(dir) }
        let compiler = CCompiler(settings: CompilerSettings(), cacheDir: dir)
        let kernel = GeneratedKernel(language: .c, source: "int tunefleet_kernel(float *const *a, void *scratch) { a[0][0] = 1; return 0; }\n")
        let outcomes = Mutex<[CompileOutcome]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            let o = compiler.compile(kernel, timeout: 60)
            outcomes.withLock { $0.append(o) }
        }
        let all = outcomes.withLock { $0 }
        #expect(all.count == 4)
        for o in all {
            guard case .built(let path, _, _) = o else { Issue.record("a concurrent build failed: \(o)"); continue }
            #expect(fileExists(path))
        }
        let again = compiler.compile(kernel, timeout: 60)
        guard case .built(_, _, let hit) = again else { Issue.record("the rebuild failed: \(again)"); return }
        #expect(hit, "a rebuild is a cache hit")
    }
}

@Suite struct ThreadLimits {
    @Test func moreThreadsThanTheDeviceRunsIsARuntimeErrorWithTheReasonNotATiming() throws {
        let dir = try makeTemporaryDirectory(prefix: "threads")
        defer { removeTree(dir) }
        var profile = DeviceProfile(deviceClass: .cpu, model: "test cpu")
        profile.cores = 2
        profile.threads = 2
        let builder = CPUBuilder(profile: profile, compiler: CCompiler(settings: CompilerSettings(), cacheDir: dir), options: CodegenOptions())
        var plan = MeasurePlan()
        plan.threads = 64
        let task = try TaskSpec(op: .elementwise, params: ["n": 64])
        let outcome = builder.build(task: task, candidate: Candidate(id: 7, schedule: Schedule(["vec": 4])), plan: plan, workDir: dir)
        guard case .failed(let r) = outcome else { Issue.record("built anyway: \(outcome)"); return }
        #expect(r.status == .runtimeError && r.candidateID == 7)
        #expect(r.errorText.contains("asks for 64 threads; this device runs 2 hardware threads"))
    }
}
