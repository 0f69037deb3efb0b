import TuneCore

/// Which taps of the packed convolution's pixel tiles read the input and which read only
/// padding (pure geometry, no code). A 3x3 convolution with padding 1 on a 7x7 output
/// spends 18% of its FMAs on zeros (14x14: 9%, 56x56: 2.4%) unless the tiles skip them,
/// as vendor libraries do.
///
/// Tiles are `rb` consecutive pixels of the flattened P*Q plane. When `rb` divides the
/// output width, no tile crosses a row ("row-aligned"): each tile's kernel rows are exactly
/// the rows its output row reads, and each of its pixels leaves out the kernel columns that
/// fall in the padding, so no tap ever leaves the input and the kernel reads the caller's
/// tensor without a padded copy. Otherwise tiles read a zero-padded copy and skip only the
/// kernel rows that are padding for every pixel of the tile.
struct ConvTaps: Equatable, Sendable {
    let rowAligned: Bool
    /// Per tile: kernel rows [lo, hi) to visit.
    let rows: [Range<Int>]
    /// Per tile: index into `kinds`.
    let tileKind: [Int]
    /// Per kind: for each pixel of the tile (0..<rb), the kernel columns it reads. Kind 0 is
    /// always the interior tile that reads every column.
    let kinds: [[Range<Int>]]
    /// Per pixel (tiles padded to a whole number): the input offset of its (r, s) = (0, 0) tap,
    /// in the padded copy's coordinates, or the caller's tensor's (possibly negative) when
    /// row-aligned. Pixels past the plane read offset 0.
    let offsets: [Int]

    init(task t: TaskSpec, rb: Int) {
        let p = t.outputHeight, q = t.outputWidth, pq = p * q
        let st = t["stride"], pad = t["pad"], dil = t["dil"], h = t["h"], w = t["w"], r = t["r"], s = t["s"]
        let aligned = q % rb == 0
        rowAligned = aligned
        let tiles = (pq + rb - 1) / rb
        /// Kernel indices k with 0 <= base + k * dil < extent.
        func valid(_ base: Int, extent: Int, taps: Int) -> Range<Int> {
            let lo = min(taps, base >= 0 ? 0 : (-base + dil - 1) / dil)
            let hi = max(lo, min(taps, extent - base <= 0 ? 0 : (extent - base + dil - 1) / dil))
            return lo..<hi
        }
        let rowTaps = (0..<p).map { valid($0 * st - pad, extent: h, taps: r) }
        let colTaps = (0..<q).map { valid($0 * st - pad, extent: w, taps: s) }
        rows = (0..<tiles).map { tile in
            let first = tile * rb, last = min(first + rb, pq) - 1
            let covered = rowTaps[(first / q)...(last / q)].filter { !$0.isEmpty }
            guard let lo = covered.map(\.lowerBound).min(), let hi = covered.map(\.upperBound).max() else { return 0..<0 }
            return lo..<hi
        }
        let full = Array(repeating: 0..<s, count: rb)
        var kinds = [full], kindOf: [[Range<Int>]: Int] = [full: 0], tileKind = [Int]()
        for tile in 0..<tiles {
            guard aligned else { tileKind.append(0); continue }
            let ow0 = tile * rb % q
            let columns = (0..<rb).map { colTaps[ow0 + $0] }
            if let k = kindOf[columns] { tileKind.append(k); continue }
            kindOf[columns] = kinds.count
            tileKind.append(kinds.count)
            kinds.append(columns)
        }
        self.kinds = kinds
        self.tileKind = tileKind
        let wpd = w + 2 * pad
        offsets = (0..<tiles * rb).map { px in
            guard px < pq else { return 0 }
            let oh = px / q, ow = px % q
            return aligned ? (oh * st - pad) * w + (ow * st - pad) : oh * st * wpd + ow * st
        }
    }

    /// FMAs of one output channel vector per input channel: taps the tiles visit.
    var visitedTaps: Int {
        zip(rows, tileKind).reduce(0) { sum, tile in sum + tile.0.count * kinds[tile.1].reduce(0) { $0 + $1.count } }
    }
}
