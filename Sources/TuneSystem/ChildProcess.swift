#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error from a system call, keeping the function name and errno.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public var function: String
    public var errno: Int32
    public init(_ function: String, errno: Int32) { self.function = function; self.errno = errno }
    public var description: String { "\(function) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// How a child process ended.
public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public var succeeded: Bool { self == .exited(0) }
    public var description: String {
        switch self {
        case .exited(let c): return "exit code \(c)"
        case .signaled(let s): return "killed by \(signalName(s))"
        }
    }
}

/// SIGSEGV -> "SIGSEGV", for error records that a person reads.
public func signalName(_ s: Int32) -> String {
    switch s {
    case SIGSEGV: return "SIGSEGV"
    case SIGBUS: return "SIGBUS"
    case SIGFPE: return "SIGFPE"
    case SIGABRT: return "SIGABRT"
    case SIGILL: return "SIGILL"
    case SIGKILL: return "SIGKILL"
    case SIGTERM: return "SIGTERM"
    case SIGINT: return "SIGINT"
    case SIGTRAP: return "SIGTRAP"
    case SIGXCPU: return "SIGXCPU"
    default: return "signal \(s)"
    }
}

/// A spawned process (posix_spawn). Not thread-safe: one owner waits on and signals it.
public final class ChildProcess {
    public enum Stream { case inherit, null, pipe, file(String) }

    public let pid: pid_t
    /// Our ends of the pipes, when `.pipe` was asked for.
    public private(set) var stdinFD: Int32 = -1
    public private(set) var stdoutFD: Int32 = -1
    public private(set) var status: ExitStatus?

    /// Starts `executable` (a path, or a name looked up in PATH) with `arguments`.
    /// `newProcessGroup` puts the child in its own group so a terminal's Ctrl-C reaches
    /// only us and we decide how children end.
    public init(executable: String, arguments: [String], environment: [String: String]? = nil,
                stdin: Stream = .null, stdout: Stream = .inherit, stderr: Stream = .inherit,
                newProcessGroup: Bool = false) throws(SystemError) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newProcessGroup { flags |= Int16(POSIX_SPAWN_SETPGROUP); posix_spawnattr_setpgroup(&attr, 0) }
        posix_spawnattr_setflags(&attr, flags)
        var noSignals = sigset_t(); sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attr, &noSignals)
        var defaults = sigset_t(); sigemptyset(&defaults)
        for s in [SIGPIPE, SIGINT, SIGTERM, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)

        var closeInParent: [Int32] = []
        var keep: (stdin: Int32, stdout: Int32) = (-1, -1)
        func setup(_ stream: Stream, fd: Int32, childReads: Bool) throws(SystemError) {
            switch stream {
            case .inherit: break
            case .null:
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", childReads ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            case .pipe:
                var p: [Int32] = [-1, -1]
                guard pipe(&p) == 0 else { throw SystemError("pipe", errno: errno) }
                for fd in p { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                let (childEnd, ourEnd) = childReads ? (p[0], p[1]) : (p[1], p[0])
                posix_spawn_file_actions_adddup2(&actions, childEnd, fd)
                closeInParent.append(childEnd)
                if childReads { keep.stdin = ourEnd } else { keep.stdout = ourEnd }
            }
        }
        try setup(stdin, fd: 0, childReads: true)
        try setup(stdout, fd: 1, childReads: false)
        try setup(stderr, fd: 2, childReads: false)

        let argv = [executable] + arguments
        let env = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        var cArgs = argv.map { strdup($0) } + [nil]
        var cEnv = env.map { $0.map { strdup($0) } + [nil] }
        defer {
            for p in cArgs { free(p) }
            if let e = cEnv { for p in e { free(p) } }
        }
        var child: pid_t = 0
        let rc: Int32
        if let _ = cEnv {
            rc = posix_spawnp(&child, executable, &actions, &attr, &cArgs, &cEnv!)
        } else {
            rc = posix_spawnp(&child, executable, &actions, &attr, &cArgs, environ)
        }
        for fd in closeInParent { close(fd) }
        guard rc == 0 else {
            if keep.stdin >= 0 { close(keep.stdin) }
            if keep.stdout >= 0 { close(keep.stdout) }
            throw SystemError("posix_spawn(\(executable))", errno: rc)
        }
        pid = child
        stdinFD = keep.stdin
        stdoutFD = keep.stdout
    }

    deinit {
        closePipes()
    }

    public func closePipes() {
        if stdinFD >= 0 { close(stdinFD); stdinFD = -1 }
        if stdoutFD >= 0 { close(stdoutFD); stdoutFD = -1 }
    }

    public func signal(_ sig: Int32) {
        if status == nil { kill(pid, sig) }
    }

    /// Non-blocking: the exit status if the child has ended.
    @discardableResult
    public func poll() -> ExitStatus? {
        if let s = status { return s }
        var st: Int32 = 0
        let r = waitpid(pid, &st, WNOHANG)
        if r == pid { status = Self.decode(st) }
        return status
    }

    /// Waits up to `timeout` seconds (nil: forever). Returns nil on timeout.
    public func wait(timeout: Double? = nil) -> ExitStatus? {
        if let s = status { return s }
        guard let timeout else {
            var st: Int32 = 0
            while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
            status = Self.decode(st)
            return status
        }
        let deadline = Monotonic.now() + timeout
        var pause = 0.0005
        while Monotonic.now() < deadline {
            if let s = poll() { return s }
            Monotonic.sleep(min(pause, max(0, deadline - Monotonic.now())))
            pause = min(pause * 2, 0.02)
        }
        return poll()
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; reaps the child.
    @discardableResult
    public func terminate(grace: Double = 2) -> ExitStatus {
        signal(SIGTERM)
        if let s = wait(timeout: grace) { return s }
        signal(SIGKILL)
        return wait()!
    }

    static func decode(_ st: Int32) -> ExitStatus {
        let sig = st & 0x7f
        if sig == 0 { return .exited((st >> 8) & 0xff) }
        return .signaled(sig)
    }
}

/// Runs a command to completion with a time limit, its stdout+stderr captured to a file.
public struct CommandOutcome: Sendable {
    public var status: ExitStatus?   // nil: timed out (the process was killed)
    public var output: String
    public var seconds: Double
    public var timedOut: Bool { status == nil }
}

public func runCommand(_ executable: String, _ arguments: [String], timeout: Double,
                       outputFile: String) throws(SystemError) -> CommandOutcome {
    let start = Monotonic.now()
    unlink(outputFile)
    let p = try ChildProcess(executable: executable, arguments: arguments, stdout: .file(outputFile),
                             stderr: .file(outputFile), newProcessGroup: true)
    var status = p.wait(timeout: timeout)
    if status == nil {
        kill(-p.pid, SIGKILL)
        _ = p.wait()
        status = nil
    }
    let out = readTextFile(outputFile, limit: 64 * 1024) ?? ""
    return CommandOutcome(status: status, output: out, seconds: Monotonic.now() - start)
}
