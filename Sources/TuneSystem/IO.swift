import CSystemShim
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The monotonic clock, in seconds; immune to wall-clock changes.
public enum Monotonic {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
    public static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        var req = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var rem = timespec()
        while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
    }
}

/// Reads at most `limit` bytes of a file as UTF-8 (invalid bytes repaired); nil if unreadable.
public func readTextFile(_ path: String, limit: Int = 1 << 24) -> String? {
    guard let bytes = readFile(path, limit: limit) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

public func readFile(_ path: String, limit: Int = 1 << 30) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while out.count < limit {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, limit - out.count)) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

/// Writes `bytes` to `path` atomically (a temporary file renamed over it), with `mode`.
public func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SystemError) {
    let tmp = path + ".tmp\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw SystemError("open(\(tmp))", errno: errno) }
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { let e = errno; close(fd); throw SystemError("write(\(tmp))", errno: e) }
        off += n
    }
    close(fd)
    // A private file (no group/other bits) gets exactly its mode; others keep the umask's say.
    if mode & 0o077 == 0, chmod(tmp, mode) != 0 { throw SystemError("chmod(\(tmp))", errno: errno) }
    guard rename(tmp, path) == 0 else { throw SystemError("rename(\(path))", errno: errno) }
}

public func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws(SystemError) {
    try writeFile(path, Array(text.utf8), mode: mode)
}

/// mkdir -p.
public func makeDirectories(_ path: String) throws(SystemError) {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST { throw SystemError("mkdir(\(current))", errno: errno) }
    }
}

/// rm -rf, for the agent's own temporary folders only.
public func removeTree(_ path: String) {
    guard let dir = opendir(path) else { unlink(path); return }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name == "." || name == ".." { continue }
        let child = path + "/" + name
        var st = stat()
        if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(child) } else { unlink(child) }
    }
    closedir(dir)
    rmdir(path)
}

/// A fresh private directory under `base` (mkdtemp).
public func makeTemporaryDirectory(base: String = "/tmp", prefix: String = "tunefleet") throws(SystemError) -> String {
    var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
    guard let p = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: errno) }
    return String(cString: p)
}

public func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// For a helper process: be killed with the parent (a crashed or killed agent leaves no
/// compile running), and never outlive `seconds` (SIGALRM ends the process).
public func limitHelperLifetime(seconds: Double) {
    _ = tf_die_with_parent()
    if seconds > 0 { alarm(UInt32(min(max(seconds.rounded(.up), 1), 86_400))) }
}

/// The running executable's absolute path (/proc/self/exe).
public func currentExecutablePath() -> String? {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

public func environmentValue(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
}

/// Starts a dedicated OS thread named `name` (truncated to the 15 bytes Linux keeps):
/// blocking loops (sockets, child processes) must not sit on Swift concurrency's small
/// cooperative pool. Throws when the thread cannot be created; the body never runs on the
/// caller instead, which would block it forever.
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
    final class Box: @unchecked Sendable {
        let name: String; let body: @Sendable () -> Void
        init(_ n: String, _ b: @escaping @Sendable () -> Void) { name = n; body = b }
    }
    let box = Unmanaged.passRetained(Box(threadName(name), body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
        let b = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue() as! Box
        _ = tf_set_thread_name(b.name)
        b.body()
        return nil
    }, box)
    if rc != 0 {
        Unmanaged<AnyObject>.fromOpaque(box).release()
        throw SystemError("pthread_create(\(name))", errno: rc)
    }
    pthread_detach(tid)
}

/// `name` cut to at most 15 UTF-8 bytes (the kernel's limit for a thread name, without the
/// terminating zero), never in the middle of a character.
public func threadName(_ name: String) -> String {
    var out = ""
    var bytes = 0
    for ch in name {
        let n = String(ch).utf8.count
        if bytes + n > 15 { break }
        out.append(ch)
        bytes += n
    }
    return out
}

/// The calling thread's name as the kernel has it (nil where it cannot be read).
public func currentThreadName() -> String? {
    var buf = [CChar](repeating: 0, count: 64)
    guard tf_get_thread_name(&buf, UInt(buf.count)) == 0 else { return nil }
    return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Pins the calling thread to the CPU it runs on, so single-threaded samples don't migrate
/// between cores mid-measurement. Returns the CPU, or nil when pinning is not possible.
@discardableResult
public func pinCurrentThreadToCurrentCPU() -> Int? {
    let cpu = tf_pin_to_current_cpu()
    return cpu >= 0 ? Int(cpu) : nil
}

/// The folder holding the running executable: sibling products (coordd, tune-agent) live there.
public func executableDirectory() -> String? {
    guard let exe = currentExecutablePath(), let slash = exe.lastIndex(of: "/") else { return nil }
    return String(exe[..<slash])
}

/// This process's environment as a dictionary (for children that need it plus a change).
public func currentEnvironment() -> [String: String] {
    var out: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
        let s = String(cString: entry)
        if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        p += 1
    }
    return out
}
