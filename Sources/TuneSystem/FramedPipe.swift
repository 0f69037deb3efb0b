#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Length-prefixed frames over a pair of file descriptors (the agent <-> worker pipes).
/// Reads take a deadline so a hung peer becomes a timeout, not a hung reader.
public struct FramedPipe {
    public let readFD: Int32
    public let writeFD: Int32
    public static let maxFrame = 64 << 20

    public init(readFD: Int32, writeFD: Int32) { self.readFD = readFD; self.writeFD = writeFD }

    public enum ReadOutcome: Equatable {
        case frame([UInt8])
        case timedOut
        case closed
    }

    public func write(_ payload: [UInt8]) throws(SystemError) {
        var n = UInt32(payload.count).littleEndian
        var bytes = withUnsafeBytes(of: &n) { Array($0) }
        bytes += payload
        var off = 0
        while off < bytes.count {
            let w = bytes.withUnsafeBytes { Glibc.write(writeFD, $0.baseAddress! + off, $0.count - off) }
            if w < 0 && errno == EINTR { continue }
            if w < 0 { throw SystemError("write", errno: errno) }
            off += w
        }
    }

    public func read(timeout: Double?) -> ReadOutcome {
        let deadline = timeout.map { Monotonic.now() + $0 }
        let header: [UInt8]
        switch readExactly(4, deadline: deadline) {
        case .frame(let h): header = h
        case let other: return other
        }
        let len = Int(header.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }.littleEndian)
        guard len <= Self.maxFrame else { return .closed }
        return readExactly(len, deadline: deadline)
    }

    private func readExactly(_ count: Int, deadline: Double?) -> ReadOutcome {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            var pfd = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
            let ms: Int32
            if let d = deadline {
                let left = d - Monotonic.now()
                if left <= 0 { return .timedOut }
                ms = Int32(min(left * 1000 + 1, 1_000_000))
            } else { ms = -1 }
            let r = Glibc.poll(&pfd, 1, ms)
            if r < 0 && errno == EINTR { continue }
            if r == 0 { continue }
            let n = out.withUnsafeMutableBytes { Glibc.read(readFD, $0.baseAddress! + got, count - got) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return .closed }
            got += n
        }
        return .frame(out)
    }
}
