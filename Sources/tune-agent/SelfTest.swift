import ArgumentParser
import Logging
import TuneAgent
import TuneCore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// Shows, on this machine's real device, that the agent survives bad kernels: a kernel
/// that crashes (SIGSEGV / illegal address), one that hangs, and one with a wrong answer
/// each cost one record, and a good kernel measured after them is still `ok`. The faulty
/// schedules are made here, locally; agents never accept them from the network.
struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check that this device's worker isolation turns crashes, hangs and wrong answers into records.")

    @OptionGroup var deviceOptions: DeviceOptions
    @Option(help: "Run timeout for each kernel, seconds (the hang costs this much).") var runTimeout = 3.0

    func run() throws {
        var logger = Logger(label: "tune-agent")
        logger.logLevel = .warning
        let work = try makeTemporaryDirectory(prefix: "tune-agent-selftest")
        defer { removeTree(work) }
        try makeDirectories(work + "/cache")
        let (builder, workerSettings) = try deviceOptions.makeBackend(options: CodegenOptions(allowFaultInjection: true),
                                                                      cacheDir: work + "/cache", memoryLimitMb: 8192, logger: logger)
        var ws = workerSettings
        ws.timeoutSlack = 2
        let worker = WorkerHost(settings: ws)
        let task = try TaskSpec(op: .matmul, params: ["m": 64, "n": 64, "k": 64])
        var plan = MeasurePlan()
        plan.repeats = 3
        plan.minRepeatSeconds = 0.001
        plan.runTimeoutSeconds = runTimeout
        guard let space = builder.space(for: task, plan: plan) else { throw ValidationError("no template for \(task.name)") }
        var rng = SplitMix64(seed: 1)
        // A point that builds and passes verification, so the faults are the only difference.
        var good: Schedule?
        for _ in 0..<20 {
            guard let s = space.sample(using: &rng) else { break }
            if case .built(let a) = builder.build(task: task, candidate: Candidate(id: 1, schedule: s), plan: plan, workDir: work),
               worker.measure(WorkerRequest(candidateID: 1, task: task, plan: plan, artifact: a)).status == .ok {
                good = s
                break
            }
        }
        guard let base = good else { throw ValidationError("no valid, verified schedule found for \(task.name)") }
        let cases: [(fault: Int, expect: MeasureStatus, what: String)] = [
            (1, .runtimeError, "kernel crashes"), (2, .runTimeout, "kernel hangs"), (3, .wrongAnswer, "kernel writes a wrong value"),
            (0, .ok, "good kernel afterwards"),
        ]
        var failures = 0
        print("selftest on \(builder.profile.deviceClass.rawValue): \(builder.profile.model); base schedule \(base.encoding)")
        for (i, c) in cases.enumerated() {
            var v = base.values
            if c.fault != 0 { v["fault"] = c.fault }
            let cand = Candidate(id: Int64(i + 2), schedule: Schedule(v))
            let result: MeasureResult
            switch builder.build(task: task, candidate: cand, plan: plan, workDir: work) {
            case .failed(let r): result = r
            case .built(let a): result = worker.measure(WorkerRequest(candidateID: cand.id, task: task, plan: plan, artifact: a))
            }
            let pass = result.status == c.expect
            if !pass { failures += 1 }
            print("  \(pass ? "PASS" : "FAIL")  \(c.what): \(result.status.rawValue) (expected \(c.expect.rawValue))"
                  + (result.errorText.isEmpty ? "" : " — \(result.errorText.prefix(160))"))
        }
        // A stop signal meant for the agent's whole process group (systemd, Slurm's scancel,
        // Ctrl-C) must not blame a kernel: the worker outlives it and measures on.
        if let pid = worker.workerPID, case .built(let a) = builder.build(task: task, candidate: Candidate(id: 90, schedule: base), plan: plan, workDir: work) {
            kill(pid, SIGTERM)
            kill(pid, SIGINT)
            let result = worker.measure(WorkerRequest(candidateID: 90, task: task, plan: plan, artifact: a))
            let pass = result.status == .ok && worker.workerPID == pid
            if !pass { failures += 1 }
            print("  \(pass ? "PASS" : "FAIL")  stop signal to the process group: \(result.status.rawValue), worker \(worker.workerPID == pid ? "kept" : "replaced")"
                  + (result.errorText.isEmpty ? "" : " — \(result.errorText.prefix(160))"))
        }
        print("worker restarts: \(worker.restarts); \(failures == 0 ? "all isolation checks passed" : "\(failures) check(s) failed")")
        if failures > 0 { throw ExitCode(1) }
    }
}
