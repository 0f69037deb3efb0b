import CZeroMQ
import Synchronization
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// A key file or allow-list that cannot be used; the message names the file's line.
public struct CurveKeyError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// CURVE keys as text files.
///
/// A key file holds `public-key = Z85` and, for one's own identity, `secret-key = Z85`
/// (40 characters each, ZeroMQ's Z85 text), with `#` comments. `coordctl keygen NAME`
/// writes `NAME.key` (both keys, mode 0600) and `NAME.pub` (the public key, for the
/// coordinator's allow-list or for agents that need the coordinator's public key).
public enum CurveKeyFile {
    public static func format(_ pair: CurveKeyPair, name: String) -> String {
        "# TuneFleet CURVE key pair '\(name)': keep this file secret\n"
            + "public-key = \(pair.publicKey)\nsecret-key = \(pair.secretKey)\n"
    }

    public static func formatPublic(_ publicKey: String, name: String) -> String {
        "# TuneFleet CURVE public key '\(name)'\npublic-key = \(publicKey)\n"
    }

    /// The keys in a key file's text. A secret key must belong to the public key beside it.
    public static func parse(_ text: String) throws(CurveKeyError) -> (publicKey: String, secretKey: String?) {
        var fields: [String: String] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
            guard parts.count == 2, ["public-key", "secret-key"].contains(parts[0]) else {
                throw CurveKeyError("line \(n + 1): expected 'public-key = KEY' or 'secret-key = KEY'")
            }
            guard isKey(parts[1]) else { throw CurveKeyError("line \(n + 1): \(parts[0]) is not a 40-character Z85 key") }
            guard fields[parts[0]] == nil else { throw CurveKeyError("line \(n + 1): \(parts[0]) given twice") }
            fields[parts[0]] = parts[1]
        }
        guard let pub = fields["public-key"] else { throw CurveKeyError("no public-key line") }
        if let sec = fields["secret-key"] {
            guard let derived = try? CurveKeyPair.publicKey(forSecret: sec), derived == pub else {
                throw CurveKeyError("the secret key does not belong to the public key")
            }
        }
        return (pub, fields["secret-key"])
    }

    /// A pair from a key file's text (its secret key required).
    public static func parsePair(_ text: String) throws(CurveKeyError) -> CurveKeyPair {
        let k = try parse(text)
        guard let secret = k.secretKey else { throw CurveKeyError("a public key only: this needs the key pair (the .key file)") }
        return CurveKeyPair(publicKey: k.publicKey, secretKey: secret)
    }

    /// Whether `s` is a CURVE key in Z85 text.
    public static func isKey(_ s: String) -> Bool {
        s.utf8.count == 40 && s.utf8.allSatisfy { z85Alphabet.contains($0) }
    }

    static let z85Alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
}

/// The public keys allowed to connect to the coordinator (agents and operators), each with
/// a name for the logs. Text: one `KEY [name]` per line, `#` comments; `.pub` files may be
/// appended as they are (`cat gpu0.pub >> allow.txt`: the key takes the file's name).
///
/// A line may start with a role, `agent KEY [name]` or `operator KEY [name]`: an agent key
/// then speaks only the agent protocol and an operator key only the control protocol. A key
/// without a role may use both (older lists); `unroled` counts them so coordd can warn.
public struct AllowList: Sendable, Equatable {
    public enum Role: String, Sendable, Equatable, CaseIterable {
        case agent, `operator`
        /// The ZAP domain of the socket this role may use.
        public var domain: String { "tunefleet-" + (self == .agent ? "agent" : "control") }
    }

    public private(set) var names: [String: String] = [:]
    /// Keys with a role; a key absent here may use every socket.
    public private(set) var roles: [String: Role] = [:]

    public init(_ names: [String: String] = [:], roles: [String: Role] = [:]) { self.names = names; self.roles = roles }

    /// Keys listed without a role.
    public var unroled: Int { names.keys.filter { roles[$0] == nil }.count }

    /// Whether `key` may use the socket of ZAP domain `domain` (nil: not on the list).
    public func admits(_ key: String, domain: String) -> Bool? {
        guard names[key] != nil else { return nil }
        guard let role = roles[key] else { return true }
        return role.domain == domain
    }

    public static func parse(_ text: String) throws(CurveKeyError) -> AllowList {
        var out = AllowList()
        var fileName: String? = nil
        let pubHeader = "# TuneFleet CURVE public key '"
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingSpaces
            if line.hasPrefix(pubHeader), line.hasSuffix("'") {
                fileName = String(line.dropFirst(pubHeader.count).dropLast())
                continue
            }
            // `#` is a Z85 digit too: a line whose first word is a whole key is a key (one
            // key in 85 starts with it), anything else after `#` a comment.
            if line.isEmpty || (line.hasPrefix("#") && !CurveKeyFile.isKey(String(line.prefix { $0 != " " && $0 != "\t" }))) { continue }
            if line.hasPrefix("public-key"), let eq = line.firstIndex(of: "=") {
                line = String(line[line.index(after: eq)...]).trimmingSpaces
            }
            var parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            var role: Role?
            if let r = Role(rawValue: parts[0]) {
                role = r
                parts.removeFirst()
                guard !parts.isEmpty else { throw CurveKeyError("line \(n + 1): '\(r.rawValue)' without a key") }
            } else if !CurveKeyFile.isKey(parts[0]), parts.count > 1, CurveKeyFile.isKey(parts[1]) {
                throw CurveKeyError("line \(n + 1): unknown role '\(parts[0])': use agent or operator")
            }
            let key = parts[0]
            guard CurveKeyFile.isKey(key) else { throw CurveKeyError("line \(n + 1): '\(parts[0])' is not a 40-character Z85 public key") }
            guard out.names[key] == nil else { throw CurveKeyError("line \(n + 1): key listed twice") }
            out.names[key] = parts.count > 1 ? parts[1...].joined(separator: " ") : (fileName ?? "key-\(key.prefix(8))")
            out.roles[key] = role
            fileName = nil
        }
        guard !out.names.isEmpty else { throw CurveKeyError("no keys: nobody could connect") }
        return out
    }

    public func name(of publicKey: String) -> String? { names[publicKey] }
}

/// ZeroMQ's authentication hook (ZAP, RFC 27) for CURVE servers in one context: a thread
/// answers each handshake with 200 when the client's public key is on the allow-list and
/// 400 otherwise, so an unknown key never gets a session, let alone a message through.
/// Start it before binding the server sockets; `stop()` ends the thread.
public final class ZAPAuthenticator: Sendable {
    public struct Decision: Sendable {
        public var allowed: Bool
        public var publicKey: String
        public var name: String?
        public var address: String
        /// Why it was refused (nil when allowed).
        public var reason: String? = nil
    }

    private let stopSignal = StopSignal()
    private let stopped = StopSignal()
    private let allowList: Shared<AllowList>

    /// Binds the handler in `context` and starts answering; `decided` sees every decision.
    public init(context: ZMQContext, allow: AllowList, decided: @escaping @Sendable (Decision) -> Void) throws(ZMQError) {
        let socket = try ZMQSocket(context, .rep)
        try socket.bind("inproc://zeromq.zap.01")
        let box = SocketBox(socket)
        let stop = stopSignal, done = stopped
        let current = Shared(allow)
        allowList = current
        do {
            try startThread(name: "zap") {
                defer { box.socket.close(); done.stop() }
                while !stop.isSet {
                    guard (try? ZMQPoller.pollInput([box.socket], timeout: 0.1))?.first == true,
                          let frames = try? box.socket.receive(wait: false) else { continue }
                    let (reply, decision) = Self.answer(frames, allow: current.value)
                    try? box.socket.send(reply)
                    if let decision { decided(decision) }
                }
            }
        } catch {
            // Without the thread no handshake would ever be answered: refuse to start.
            socket.close()
            throw ZMQError(function: error.function, errno: error.errno)
        }
    }

    /// Handshakes from now on are checked against `list` (sessions already admitted stay).
    public func replaceAllowList(_ list: AllowList) { allowList.value = list }

    public func stop() {
        stopSignal.stop()
        while !stopped.isSet { Monotonic.sleep(0.01) }
    }

    /// The reply to one ZAP request (pure): version, request id, status code and text,
    /// user id (the key's name), metadata.
    static func answer(_ frames: [[UInt8]], allow: AllowList) -> (reply: [[UInt8]], decision: Decision?) {
        func reply(_ id: [UInt8], _ code: String, _ text: String, user: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), id, Array(code.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        guard frames.count >= 6, String(decoding: frames[0], as: UTF8.self) == "1.0" else {
            return (reply(frames.count > 1 ? frames[1] : [], "500", "malformed ZAP request"), nil)
        }
        let address = String(decoding: frames[3], as: UTF8.self)
        guard String(decoding: frames[5], as: UTF8.self) == "CURVE", frames.count >= 7, frames[6].count == 32 else {
            return (reply(frames[1], "400", "CURVE keys required"),
                    Decision(allowed: false, publicKey: "", name: nil, address: address))
        }
        let key = z85(frames[6])
        let domain = String(decoding: frames[2], as: UTF8.self)
        switch allow.admits(key, domain: domain) {
        case true?:
            let name = allow.name(of: key)!
            return (reply(frames[1], "200", "OK", user: name), Decision(allowed: true, publicKey: key, name: name, address: address))
        case false?:
            let role = allow.roles[key]!
            let why = "an \(role.rawValue) key may not use the \(role == .agent ? "control" : "agent") socket"
            return (reply(frames[1], "400", why),
                    Decision(allowed: false, publicKey: key, name: allow.name(of: key), address: address, reason: why))
        case nil:
            return (reply(frames[1], "400", "public key not on the allow-list"),
                    Decision(allowed: false, publicKey: key, name: nil, address: address, reason: "not on the allow-list"))
        }
    }

    /// Z85 text back to bytes (4 bytes per 5 characters).
    static func bytes(z85 text: String) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: text.utf8.count * 4 / 5)
        _ = zmq_z85_decode(&out, text)
        return out
    }

    static func z85(_ bytes: [UInt8]) -> String {
        var out = [CChar](repeating: 0, count: bytes.count * 5 / 4 + 1)
        _ = bytes.withUnsafeBufferPointer { zmq_z85_encode(&out, $0.baseAddress, $0.count) }
        return String(decoding: out.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A value several threads read and one replaces, under a lock.
private final class Shared<Value: Sendable>: Sendable {
    private let lock: Mutex<Value>
    init(_ v: Value) { lock = Mutex(v) }
    var value: Value {
        get { lock.withLock { $0 } }
        set { lock.withLock { $0 = newValue } }
    }
}

/// Hands a socket to the one thread that uses it from then on.
private final class SocketBox: @unchecked Sendable {
    let socket: ZMQSocket
    init(_ s: ZMQSocket) { socket = s }
}

extension Substring {
    var trimmingSpaces: String { String(self).trimmingSpaces }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}

// MARK: files

extension CurveKeyFile {
    /// The key pair in the key file at `path`.
    public static func loadPair(_ path: String) throws(CurveKeyError) -> CurveKeyPair {
        do { return try parsePair(try read(path)) } catch { throw CurveKeyError("\(path): \(error)") }
    }

    /// A public key given as Z85 text, or the public key in the key file at that path.
    public static func loadPublic(_ pathOrKey: String) throws(CurveKeyError) -> String {
        if isKey(pathOrKey) { return pathOrKey }
        do { return try parse(try read(pathOrKey)).publicKey } catch { throw CurveKeyError("\(pathOrKey): \(error)") }
    }

    public static func loadAllowList(_ path: String) throws(CurveKeyError) -> AllowList {
        do { return try AllowList.parse(try read(path)) } catch { throw CurveKeyError("\(path): \(error)") }
    }

    static func read(_ path: String) throws(CurveKeyError) -> String {
        guard let text = readTextFile(path, limit: 1 << 20) else { throw CurveKeyError("cannot read the file") }
        return text
    }
}
