#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock this process holds for as long as it lives: `flock` on a file beside
/// the resource, so the kernel releases it when the process exits or dies and there is never
/// a stale lock to clean up. The holder's pid is written into the file for the message a
/// second contender gets.
public final class ProcessLock: Sendable {
    public let path: String
    private let fd: Int32

    public struct Held: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var holderPID: Int32?
        public var description: String {
            "\(path) is locked by another process" + (holderPID.map { " (pid \($0))" } ?? "")
        }
    }

    /// Takes the lock or fails at once: `Held` when another process has it.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("open(\(path))", errno: errno) }
        var r: Int32
        repeat { r = flock(fd, LOCK_EX | LOCK_NB) } while r != 0 && errno == EINTR
        if r != 0 {
            let e = errno
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, 31, 0)
            close(fd)
            guard e == EWOULDBLOCK else { throw SystemError("flock(\(path))", errno: e) }
            let text = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingCharactersInWhitespace() : ""
            throw Held(path: path, holderPID: Int32(text))
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    deinit { close(fd) }
}

extension String {
    func trimmingCharactersInWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
