import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A failed libzmq call: the function name, errno and zmq's text for it.
public struct ZMQError: Error, CustomStringConvertible, Sendable, Equatable {
    public var function: String
    public var errno: Int32
    public var description: String { "\(function): \(String(cString: zmq_strerror(errno))) (errno \(errno))" }

    static func last(_ function: String) -> ZMQError { ZMQError(function: function, errno: zmq_errno()) }
    public var isTimeout: Bool { errno == EAGAIN }
    public var isInterrupted: Bool { errno == EINTR }
}

/// A ZeroMQ context. Thread-safe by libzmq's contract; sockets made from it are not.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    public init() {
        handle = zmq_ctx_new()
    }

    deinit { zmq_ctx_term(handle) }

    /// Whether libzmq was built with CURVE security.
    public static var hasCurve: Bool { zmq_has("curve") == 1 }
}

/// One ZeroMQ socket. Owned by one thread at a time.
public final class ZMQSocket {
    public enum Kind {
        case router, dealer, req, rep, pair
        var raw: Int32 {
            switch self {
            case .router: return ZMQ_ROUTER
            case .dealer: return ZMQ_DEALER
            case .req: return ZMQ_REQ
            case .rep: return ZMQ_REP
            case .pair: return ZMQ_PAIR
            }
        }
    }

    let handle: UnsafeMutableRawPointer
    // Keeps the context alive while the socket is open.
    private let context: ZMQContext
    private var closed = false

    public init(_ context: ZMQContext, _ kind: Kind) throws(ZMQError) {
        guard let h = zmq_socket(context.handle, kind.raw) else { throw .last("zmq_socket") }
        handle = h
        self.context = context
        try setInt(ZMQ_LINGER, 0)
    }

    deinit { close() }

    public func close() {
        if !closed { zmq_close(handle); closed = true }
    }

    public func setInt(_ option: Int32, _ value: Int32) throws(ZMQError) {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) == 0 else { throw .last("zmq_setsockopt(\(option))") }
    }

    public func setInt64(_ option: Int32, _ value: Int64) throws(ZMQError) {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int64>.size) == 0 else { throw .last("zmq_setsockopt(\(option))") }
    }

    public func setBytes(_ option: Int32, _ value: [UInt8]) throws(ZMQError) {
        let rc = value.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw .last("zmq_setsockopt(\(option))") }
    }

    /// Drops incoming messages larger than this many bytes (and the peer's connection):
    /// a memory guard; the application checks its own, smaller limit.
    public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) { try setInt64(ZMQ_MAXMSGSIZE, bytes) }
    public func setReceiveTimeout(milliseconds: Int32) throws(ZMQError) { try setInt(ZMQ_RCVTIMEO, milliseconds) }
    public func setSendTimeout(milliseconds: Int32) throws(ZMQError) { try setInt(ZMQ_SNDTIMEO, milliseconds) }
    /// How long `close` may keep delivering what was sent (sockets start at 0: drop it).
    public func setLinger(milliseconds: Int32) throws(ZMQError) { try setInt(ZMQ_LINGER, milliseconds) }
    public func setIdentity(_ id: String) throws(ZMQError) { try setBytes(ZMQ_ROUTING_ID, Array(id.utf8)) }
    /// ROUTER: fail a send to an unknown peer instead of dropping it silently.
    public func setRouterMandatory(_ on: Bool) throws(ZMQError) { try setInt(ZMQ_ROUTER_MANDATORY, on ? 1 : 0) }
    public func setReconnectInterval(milliseconds: Int32, max: Int32) throws(ZMQError) {
        try setInt(ZMQ_RECONNECT_IVL, milliseconds)
        try setInt(ZMQ_RECONNECT_IVL_MAX, max)
    }

    // CURVE: a server holds its secret key; a client holds its own pair and the server's public key.
    public func makeCurveServer(secretKey: String) throws(ZMQError) {
        try setInt(ZMQ_CURVE_SERVER, 1)
        try setBytes(ZMQ_CURVE_SECRETKEY, Array(secretKey.utf8))
    }
    public func makeCurveClient(_ c: CurveClientKeys) throws(ZMQError) {
        try setBytes(ZMQ_CURVE_SERVERKEY, Array(c.serverPublicKey.utf8))
        try setBytes(ZMQ_CURVE_PUBLICKEY, Array(c.keys.publicKey.utf8))
        try setBytes(ZMQ_CURVE_SECRETKEY, Array(c.keys.secretKey.utf8))
    }
    /// ZAP domain: with a ZAP handler running, CURVE clients are checked against it.
    public func setZAPDomain(_ domain: String) throws(ZMQError) { try setBytes(ZMQ_ZAP_DOMAIN, Array(domain.utf8)) }

    /// Binds and returns the resolved endpoint (so `tcp://127.0.0.1:*` yields the real port).
    @discardableResult
    public func bind(_ endpoint: String) throws(ZMQError) -> String {
        guard zmq_bind(handle, endpoint) == 0 else { throw .last("zmq_bind(\(endpoint))") }
        return lastEndpoint ?? endpoint
    }

    public func connect(_ endpoint: String) throws(ZMQError) {
        guard zmq_connect(handle, endpoint) == 0 else { throw .last("zmq_connect(\(endpoint))") }
    }

    public var lastEndpoint: String? {
        var buf = [CChar](repeating: 0, count: 256)
        var len = buf.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buf, &len) == 0 else { return nil }
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Sends a multipart message. `wait: false` fails with EAGAIN instead of blocking.
    public func send(_ frames: [[UInt8]], wait: Bool = true) throws(ZMQError) {
        for (i, frame) in frames.enumerated() {
            var flags: Int32 = wait ? 0 : ZMQ_DONTWAIT
            if i < frames.count - 1 { flags |= ZMQ_SNDMORE }
            while true {
                let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
                if rc >= 0 { break }
                let e = ZMQError.last("zmq_send")
                if e.isInterrupted { continue }
                throw e
            }
        }
    }

    /// Receives one multipart message; nil when `wait` is false and nothing is there, or
    /// when the receive timeout passed.
    public func receive(wait: Bool = true) throws(ZMQError) -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        while true {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            let rc = zmq_msg_recv(&msg, handle, wait || !frames.isEmpty ? 0 : ZMQ_DONTWAIT)
            if rc < 0 {
                let e = ZMQError.last("zmq_msg_recv")
                if e.isInterrupted { continue }
                if e.isTimeout && frames.isEmpty { return nil }
                throw e
            }
            let size = zmq_msg_size(&msg)
            let data = zmq_msg_data(&msg)!
            frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            if zmq_msg_more(&msg) == 0 { return frames }
        }
    }
}

/// Waits for input on several sockets at once.
public enum ZMQPoller {
    /// Returns, per socket, whether a message is ready. `timeout` in seconds (negative: forever).
    public static func pollInput(_ sockets: [ZMQSocket], timeout: Double) throws(ZMQError) -> [Bool] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let ms = timeout < 0 ? -1 : Int(timeout * 1000)
        let rc = zmq_poll(&items, Int32(items.count), ms)
        if rc < 0 {
            let e = ZMQError.last("zmq_poll")
            if e.isInterrupted { return sockets.map { _ in false } }
            throw e
        }
        return items.map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
    }
}

/// What a CURVE client holds: the server's public key and its own pair.
public struct CurveClientKeys: Sendable, Equatable {
    public var serverPublicKey: String
    public var keys: CurveKeyPair
    public init(serverPublicKey: String, keys: CurveKeyPair) { self.serverPublicKey = serverPublicKey; self.keys = keys }
}

/// CURVE key pairs in Z85 text (40 characters each).
public struct CurveKeyPair: Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String

    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var pub = [CChar](repeating: 0, count: 41)
        var sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw .last("zmq_curve_keypair") }
        func text(_ b: [CChar]) -> String { String(decoding: b.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CurveKeyPair(publicKey: text(pub), secretKey: text(sec))
    }

    /// The public key belonging to a secret key.
    public static func publicKey(forSecret secret: String) throws(ZMQError) -> String {
        var pub = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&pub, secret) == 0 else { throw .last("zmq_curve_public") }
        return String(decoding: pub.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
