#if canImport(Glibc)
import Glibc
#endif

/// Keeps timing and compiling apart across every agent on one host. Compiles share the
/// host; a measurement has it alone, so samples are never taken while another agent's
/// compiler (or timing) competes for the cores and caches. A gate file keeps new compiles
/// from starving a waiting measurement: a reader-writer lock with writer preference over
/// flock, so it works between processes and is released when a process dies.
public struct HostMeasureLock: Sendable {
    public let path: String

    public init(path: String) throws(SystemError) {
        self.path = path
        for p in [path, path + ".gate"] {
            let fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
            guard fd >= 0 else { throw SystemError("open(\(p))", errno: errno) }
            close(fd)
        }
    }

    // flock belongs to an open file description: each holder opens its own, so threads
    // of one process are excluded from each other like separate processes.
    private func acquire(_ file: String, _ op: Int32) -> Int32 {
        let fd = open(file, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return -1 }
        while flock(fd, op) != 0 && errno == EINTR {}
        return fd
    }

    private func release(_ fd: Int32) {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// Runs `body` while holding the host for compiling (shared with other compiles).
    public func compiling<T>(_ body: () throws -> T) rethrows -> T {
        let gate = acquire(path + ".gate", LOCK_EX)
        let work = acquire(path, LOCK_SH)
        release(gate)
        defer { release(work) }
        return try body()
    }

    /// Runs `body` with the host to itself: no compile and no other measurement runs.
    public func measuring<T>(_ body: () throws -> T) rethrows -> T {
        let gate = acquire(path + ".gate", LOCK_EX)
        let work = acquire(path, LOCK_EX)
        defer { release(work); release(gate) }
        return try body()
    }
}
