#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TuneCore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// The worker process's loop: read a request from stdin, measure, answer on stdout.
/// A crash or hang here is observed by the agent, which records it and starts a new worker.
public enum WorkerMain {
    /// Exit code of a worker that quit on purpose after its runner became unusable.
    public static let restartExitCode: Int32 = 3

    public static func run(runner: KernelRunner, memoryLimitBytes: Int?) -> Int32 {
        // A stop signal sent to the agent's whole process group (systemd, Slurm's scancel,
        // Ctrl-C) is the agent's to handle: it ends this worker itself (end of input, or
        // SIGKILL). Dying of it here would be recorded as the kernel's runtime_error.
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        if let limit = memoryLimitBytes, limit > 0 {
            var rl = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
            setrlimit(Int32(RLIMIT_AS.rawValue), &rl)
        }
        // Nothing but replies may reach stdout: move it aside, keep our own copy for frames.
        let replyFD = dup(1)
        dup2(2, 1)
        let pipe = FramedPipe(readFD: 0, writeFD: replyFD)
        let decoder = JSONDecoder()
        let encoder = JSONEncoder()
        while true {
            guard case .frame(let bytes) = pipe.read(timeout: nil) else { return 0 }
            let reply: MeasureResult
            do {
                let req = try decoder.decode(WorkerRequest.self, from: Data(bytes))
                if let artifact = req.artifact {
                    reply = runner.measure(artifact: artifact, task: req.task, plan: req.plan, candidateID: req.candidateID)
                } else {
                    reply = runner.measureVendor(task: req.task, plan: req.plan)
                }
            } catch {
                reply = MeasureResult(candidateID: -1, status: .runtimeError, errorText: "worker could not decode request: \(error)")
            }
            guard let out = try? encoder.encode(reply), (try? pipe.write(Array(out))) != nil else { return 1 }
            // The reply went out first, so the failure is recorded against the right candidate.
            if runner.mustRestart { return restartExitCode }
        }
    }
}
