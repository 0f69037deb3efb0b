import Testing
@testable import TuneTransport

@Suite struct CurveKeyFiles {
    @Test func aWrittenPairReadsBackAndItsPublicHalfToo() throws {
        let pair = try CurveKeyPair.generate()
        #expect(try CurveKeyFile.parsePair(CurveKeyFile.format(pair, name: "gpu-node-1")) == pair)
        let pub = try CurveKeyFile.parse(CurveKeyFile.formatPublic(pair.publicKey, name: "gpu-node-1"))
        #expect(pub.publicKey == pair.publicKey && pub.secretKey == nil)
        // An agent given only a public file for its own identity is told what it needs.
        #expect(throws: CurveKeyError.self) { _ = try CurveKeyFile.parsePair(CurveKeyFile.formatPublic(pair.publicKey, name: "x")) }
    }

    @Test func aSecretThatIsNotThePublicKeysPartnerIsRefused() throws {
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        let mixed = "public-key = \(a.publicKey)\nsecret-key = \(b.secretKey)\n"
        #expect(throws: CurveKeyError("the secret key does not belong to the public key")) { _ = try CurveKeyFile.parse(mixed) }
    }

    @Test(arguments: [
        ("public-key = short\n", "line 1: public-key is not a 40-character Z85 key"),
        ("# comment\nprivate = x\n", "line 2: expected 'public-key = KEY' or 'secret-key = KEY'"),
        ("", "no public-key line"),
    ])
    func badKeyFilesNameTheLine(text: String, message: String) {
        #expect(throws: CurveKeyError(message)) { _ = try CurveKeyFile.parse(text) }
    }

    @Test func allowListsTakeKeysWithNamesAndNameTheBadLine() throws {
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        let list = try AllowList.parse("# agents\n\(a.publicKey) gpu-node-1\n\n\(b.publicKey)\n")
        #expect(list.name(of: a.publicKey) == "gpu-node-1")
        #expect(list.name(of: b.publicKey) == "key-\(b.publicKey.prefix(8))")
        #expect(throws: CurveKeyError("line 2: 'not-a-key' is not a 40-character Z85 public key")) {
            _ = try AllowList.parse("\(a.publicKey) ok\nnot-a-key bad\n")
        }
        #expect(throws: CurveKeyError("no keys: nobody could connect")) { _ = try AllowList.parse("# empty\n") }
        // .pub files appended as they are: the key is named after the file.
        let appended = try AllowList.parse(CurveKeyFile.formatPublic(a.publicKey, name: "gpu0")
                                           + CurveKeyFile.formatPublic(b.publicKey, name: "operator"))
        #expect(appended.names == [a.publicKey: "gpu0", b.publicKey: "operator"])
    }

    /// `#` is a Z85 digit: a role-less line whose key starts with it is a key, not a comment.
    @Test func aKeyStartingWithHashIsNotAComment() throws {
        let hashKey = "#" + String(repeating: "a", count: 38) + "Z"
        #expect(CurveKeyFile.isKey(hashKey))
        let list = try AllowList.parse("# agents below\n\(hashKey) gpu-node-9\n#\n#note\n")
        #expect(list.names == [hashKey: "gpu-node-9"])
    }
}

@Suite struct ZAPDecisions {
    func request(mechanism: String, key: [UInt8]?, domain: String = "tunefleet-agent") -> [[UInt8]] {
        var f: [[UInt8]] = [Array("1.0".utf8), [7], Array(domain.utf8), Array("127.0.0.1".utf8), [], Array(mechanism.utf8)]
        if let key { f.append(key) }
        return f
    }

    func binary(_ z85: String) -> [UInt8] { ZAPAuthenticator.bytes(z85: z85) }

    @Test func aListedKeyIsAdmittedUnderItsNameAndAnyOtherIsRefused() throws {
        let member = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let allow = AllowList([member.publicKey: "agents"])
        let ok = ZAPAuthenticator.answer(request(mechanism: "CURVE", key: binary(member.publicKey)), allow: allow)
        #expect(ok.reply[1] == [7] && ok.reply[2] == Array("200".utf8) && ok.reply[4] == Array("agents".utf8))
        #expect(ok.decision?.allowed == true && ok.decision?.publicKey == member.publicKey)
        let no = ZAPAuthenticator.answer(request(mechanism: "CURVE", key: binary(stranger.publicKey)), allow: allow)
        #expect(no.reply[2] == Array("400".utf8) && no.decision?.allowed == false && no.decision?.publicKey == stranger.publicKey)
        let plain = ZAPAuthenticator.answer(request(mechanism: "NULL", key: nil), allow: allow)
        #expect(plain.reply[2] == Array("400".utf8))
        let junk = ZAPAuthenticator.answer([[1]], allow: allow)
        #expect(junk.reply[2] == Array("500".utf8) && junk.decision == nil)
    }

    @Test func anAgentKeyOnlyReachesTheAgentSocketAndAnOperatorKeyOnlyTheControlSocket() throws {
        let agent = try CurveKeyPair.generate(), op = try CurveKeyPair.generate(), old = try CurveKeyPair.generate()
        let allow = try AllowList.parse("agent \(agent.publicKey) gpu-node-1\noperator \(op.publicKey) alice\n\(old.publicKey) legacy\n")
        #expect(allow.roles == [agent.publicKey: .agent, op.publicKey: .operator])
        #expect(allow.unroled == 1)
        func code(_ k: CurveKeyPair, _ domain: String) -> String {
            String(decoding: ZAPAuthenticator.answer(request(mechanism: "CURVE", key: binary(k.publicKey), domain: domain), allow: allow).reply[2], as: UTF8.self)
        }
        let agentDomain = AllowList.Role.agent.domain, controlDomain = AllowList.Role.operator.domain
        #expect(code(agent, agentDomain) == "200" && code(agent, controlDomain) == "400")
        #expect(code(op, controlDomain) == "200" && code(op, agentDomain) == "400")
        #expect(code(old, agentDomain) == "200" && code(old, controlDomain) == "200", "a key without a role keeps working")
        let refused = ZAPAuthenticator.answer(request(mechanism: "CURVE", key: binary(agent.publicKey), domain: controlDomain), allow: allow)
        #expect(refused.decision?.reason == "an agent key may not use the control socket")
        #expect(refused.decision?.name == "gpu-node-1")
        #expect(throws: CurveKeyError("line 1: unknown role 'admin': use agent or operator")) {
            _ = try AllowList.parse("admin \(op.publicKey) x\n")
        }
        #expect(throws: CurveKeyError("line 1: 'agent' without a key")) { _ = try AllowList.parse("agent\n") }
    }

    /// End to end in one process: a CURVE server with the authenticator answers a listed
    /// client and never sees a message from an unlisted one.
    @Test func onlyAListedClientGetsThrough() throws {
        let ctx = ZMQContext()
        let server = try CurveKeyPair.generate(), member = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let auth = try ZAPAuthenticator(context: ctx, allow: AllowList([member.publicKey: "member"])) { _ in }
        defer { auth.stop() }
        let router = try ZMQSocket(ctx, .router)
        try router.makeCurveServer(secretKey: server.secretKey)
        try router.setZAPDomain("tunefleet")
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        func client(_ keys: CurveKeyPair, id: String) throws -> ZMQSocket {
            let s = try ZMQSocket(ctx, .dealer)
            try s.setIdentity(id)
            try s.makeCurveClient(CurveClientKeys(serverPublicKey: server.publicKey, keys: keys))
            try s.connect(endpoint)
            try s.send([[42]])
            return s
        }
        let outsider = try client(stranger, id: "stranger")
        let insider = try client(member, id: "member")
        #expect(try ZMQPoller.pollInput([router], timeout: 10) == [true])
        #expect(try router.receive() == [Array("member".utf8), [42]])
        // The stranger's handshake was refused: nothing more arrives.
        #expect(try ZMQPoller.pollInput([router], timeout: 0.5) == [false])
        _ = (outsider, insider)
    }
}
