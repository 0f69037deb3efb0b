#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
import TuneCore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// The agent's handle on its worker process. Each measurement either returns the worker's
/// result, or turns the worker's death into `runtime_error` (with the signal's name) or its
/// silence into `run_timeout`; then the worker is replaced before the next request.
/// The result detail key with which a worker says it exits after this reply.
public let restartDetailKey = "worker_restart"

public final class WorkerHost {
    public struct Settings: Sendable {
        /// The worker executable and its arguments (usually this agent's own binary).
        public var executable: String
        public var arguments: [String]
        public var environment: [String: String]?
        /// Added to the plan's run timeout to cover start-up, verification and loading.
        public var timeoutSlack: Double = 5
        /// A fresh worker after this many measurements: loaded kernels stay mapped (see
        /// CPURunner), so the worker's address space is bounded by recycling it.
        public var recycleAfter = 200
        public init(executable: String, arguments: [String], environment: [String: String]? = nil) {
            self.executable = executable; self.arguments = arguments; self.environment = environment
        }
    }

    let settings: Settings
    private var process: ChildProcess?
    /// The worker's pid while it runs a request (0 otherwise): what `abortCurrent` may kill.
    /// Cleared before the worker is ever reaped, so a pid is never signalled after reuse.
    private let running = Mutex<pid_t>(0)
    private var served = 0
    public private(set) var restarts = 0

    public init(settings: Settings) { self.settings = settings }

    /// The worker ignores SIGTERM: end of input ends it, SIGKILL if it is still measuring.
    deinit {
        guard let p = process else { return }
        p.closePipes()
        if p.wait(timeout: 1) == nil { p.signal(SIGKILL); _ = p.wait(timeout: 5) }
    }

    /// The running worker's process id (nil before the first request).
    public var workerPID: Int32? { process?.pid }

    private func ensureStarted() throws(SystemError) -> ChildProcess {
        if served >= settings.recycleAfter, let p = process {
            p.closePipes()
            if p.wait(timeout: 5) == nil { p.signal(SIGKILL); _ = p.wait(timeout: 5) }
            process = nil
        }
        if let p = process, p.poll() == nil { return p }
        served = 0
        process = nil
        let p = try ChildProcess(executable: settings.executable, arguments: settings.arguments,
                                 environment: settings.environment, stdin: .pipe, stdout: .pipe, stderr: .inherit)
        process = p
        return p
    }

    private func replace() {
        if let p = process {
            p.signal(SIGKILL)
            _ = p.wait(timeout: 5)
        }
        process = nil
        restarts += 1
    }

    /// Kills the worker if it is running a request (from any thread): the request ends as a
    /// `runtime_error` and the worker is replaced before the next. For work called back.
    public func abortCurrent() {
        running.withLock { pid in if pid > 0 { kill(pid, SIGKILL) } }
    }

    /// Measures one request in the worker. `abandoned` is asked once the worker runs it: if
    /// it says yes (the work was called back before `abortCurrent` could see this request),
    /// the worker is killed at once, as `abortCurrent` would have.
    public func measure(_ request: WorkerRequest, abandoned: () -> Bool = { false }) -> MeasureResult {
        let fail = { (status: MeasureStatus, text: String) in
            MeasureResult(candidateID: request.candidateID, status: status,
                          compileSeconds: request.artifact?.compileSeconds ?? 0, errorText: text,
                          detail: request.artifact?.detail ?? [:])
        }
        let p: ChildProcess
        do { p = try ensureStarted() } catch {
            return fail(.runtimeError, "cannot start worker: \(error)")
        }
        let pipe = FramedPipe(readFD: p.stdoutFD, writeFD: p.stdinFD)
        guard let bytes = try? JSONEncoder().encode(request) else { return fail(.runtimeError, "cannot encode request") }
        do { try pipe.write(Array(bytes)) } catch {
            let status = p.wait(timeout: 2)
            replace()
            return fail(.runtimeError, "worker gone before the request: \(status.map { "\($0)" } ?? "\(error)")")
        }
        served += 1
        let timeout = request.plan.runBudget(for: request.task) + settings.timeoutSlack
        running.withLock { $0 = p.pid }
        if abandoned() { abortCurrent() }
        let reply = pipe.read(timeout: timeout)
        running.withLock { $0 = 0 }
        switch reply {
        case .frame(let reply):
            guard var r = try? JSONDecoder().decode(MeasureResult.self, from: Data(reply)) else {
                replace()
                return fail(.runtimeError, "worker sent an unreadable reply")
            }
            r.candidateID = request.candidateID
            if r.detail[restartDetailKey] != nil {
                // The worker announced its exit (poisoned CUDA context): reap it now so the
                // next request cannot be sent into a process that is going away.
                if p.wait(timeout: 5) == nil { p.signal(SIGKILL); _ = p.wait(timeout: 5) }
                process = nil
                restarts += 1
            }
            return r
        case .timedOut:
            replace()
            return fail(.runTimeout, "no result within \(timeout) s; worker killed and replaced")
        case .closed:
            let status = p.wait(timeout: 5)
            replace()
            switch status {
            case .signaled(let s)?: return fail(.runtimeError, "worker killed by \(signalName(s)) while running the kernel")
            case .exited(let c)?: return fail(.runtimeError, "worker exited with code \(c) while running the kernel")
            case nil: return fail(.runtimeError, "worker closed its pipe while running the kernel")
            }
        }
    }
}
