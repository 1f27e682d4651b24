namespace AttentionGen;

/// <summary>
/// The tile sizes every kernel uses. Shared by the runtime, whose work loops use them, and the generator, whose
/// kernel explanation states them, so the two cannot disagree.
/// </summary>
internal static class KernelTiles
{
    /// <summary>
    /// Query rows in one work item, the unit the scheduler hands to a thread, where the widest accelerated vector has 256
    /// bits or fewer, and the most rows of a row block there (a pair of Vector256 on AVX2). Half of it is the fewest query
    /// rows for which a call takes the row blocks at all, whatever the width.
    /// </summary>
    public const int RowsPerItem = 16;

    /// <summary>
    /// Query rows in one work item with AVX-512, and the most rows of a row block there: a pair of Vector512 per element, so
    /// that each broadcast key or value element feeds two multiply-adds. With a single Vector512 of 16 rows, every
    /// multiply-add also loads its broadcast, and a core that runs two 512-bit multiply-adds per cycle (Zen 5) cannot load
    /// that fast: in probes on Zen 5 a Q·Kᵀ register block of 16 keys ran at 69–79% of the FMA peak, blocks of 6 and 12
    /// keys on pairs at 87–94%.
    /// </summary>
    public const int WideRowsPerItem = 32;

    /// <summary>
    /// The fewest query rows per key/value head for which a call over token-major tensors copies each head's keys and
    /// values into consecutive rows before its row blocks read them: four row blocks of 16, two of 32 with AVX-512.
    /// </summary>
    public const int StagedHeadRows = 64;

    /// <summary>
    /// The fewest key/value heads' worth of work items per thread (a head's query blocks, consecutive items) for which the
    /// threads of a call take whole heads' items at a time rather than one item at a time, so that one thread rather than
    /// each brings a head's keys and values into its cache. The last heads' items, one head's worth per thread, still go
    /// one at a time, so that the threads finish together.
    /// </summary>
    public const int GroupsPerThread = 2;

    /// <summary>Keys scored, soft-maxed and accumulated together; a multiple of every vector width.</summary>
    public const int KeyTile = 128;

    /// <summary>
    /// Keys the one-row kernels score, soft-max and accumulate together, and the most keys of a tile of the cached path
    /// that only one row, or one group of rows, reads (decoding a token; see <see cref="GroupKeyTile"/>): no other row
    /// shares the tile, so nothing is gained by keeping it in cache, and longer tiles read keys and values in longer runs (512 KiB of each at
    /// d = 128) and scale the query, find the maximum and rescale the accumulator once per 1024 keys rather than 128.
    /// On Zen 5, a Stopwatch probe alternating it with tiles of 128 in one process decoded 8 heads of 128 over 4096 and
    /// 32768 tokens 8–20% faster from a float cache and 15–64% faster from a Half one (one and two threads); prefetching
    /// the floats into L2 32 keys ahead on top of it made them 10–15% slower again. BenchmarkDotNet runs of the two
    /// builds could not separate them from that machine's noise (docs/PERFORMANCE.md). A multiple of every vector width.
    /// </summary>
    public const int RowKeyTile = 1024;

    /// <summary>
    /// Keys the group kernels (the query heads of one key/value head, computed together) score, soft-max and accumulate
    /// together; the cached path gives them tiles of <see cref="RowKeyTile"/> keys where one group holds every row of a
    /// key/value head (decoding one token), since no other row shares the tile then either. Four rows' scores of a tile
    /// take 8 KiB. Keys and values are read in runs of 256 KiB rather than 64 KiB (d = 128, floats). On Zen 4 (family 25
    /// model 17, AVX-512), BenchmarkDotNet runs of builds with and without the longer tiles, alternating, decoded 32 query
    /// heads on 8 key/value heads of 128 over a float cache of 4096 tokens 1.17–1.52 times as fast on one thread and
    /// 1.50–1.57 times on two, and over a Half one 1.02–1.13 times (run by run); over 32768 tokens, from memory, the two
    /// builds were within the host's spread (docs/PERFORMANCE.md). A multiple of every vector width.
    /// </summary>
    public const int GroupKeyTile = 512;

    /// <summary>
    /// Keys the one-row kernels' P·V takes at a time when a value row is more than the eight vectors it holds in
    /// registers (ValueDim above 64 on AVX2, 32 on Vector128, 128 with AVX-512): each pass adds one part of the rows, and
    /// over a few keys the passes after the first find them in L1, while the next few keys' rows are prefetched whole.
    /// Over a whole tile each pass had read its part of every row from memory again, in pieces the hardware prefetchers
    /// did not follow. On Zen 5 with the JIT held to AVX2 (<c>DOTNET_EnableAVX512=0</c>), a Stopwatch probe alternating
    /// 4, 8, 12, 16, 24, 32 and 64 keys in one process decoded 8 heads of 128 over 32768 tokens fastest at 8: 1.17 times
    /// as fast as a whole tile from a float cache and 1.49 times from a Half one; on Vector128 (<c>DOTNET_EnableAVX2=0</c>)
    /// 1.72 and 1.83 times. Without the prefetch, a float cache gained only 1.0–1.1 times. The group kernels (the query
    /// heads of a key/value head) take their P·V passes this many keys at a time where there are more than two, on a
    /// 16-register file: the same probe decoded 32 query heads on 8 key/value heads 1.17 times as fast from a float cache
    /// and 1.08 times from a Half one (AVX2), 1.11 and 1.02 times (Vector128); with AVX-512's two passes it moved calls by
    /// −5% to +5%, so there the passes still run over the whole tile.
    /// </summary>
    public const int RowValueKeys = 8;

    /// <summary>
    /// The most rows of one (batch entry, key/value head) that a work item of the cached path takes: enough for the query
    /// heads of a group times a few query positions, so that a tile of keys read once serves all of them.
    /// </summary>
    public const int CachedRowsPerItem = 16;

    /// <summary>
    /// With a Half cache, the most rows of one (batch entry, key/value head) that each widen the halves in registers rather
    /// than share a tile widened into scratch, when the rows cannot run as groups (an explicit mask): widening is three
    /// operations per vector, cheaper four times over than a staged tile's store, reload and per-tile overhead. Rows in
    /// groups always widen in registers, once per group: with 8 and 16 rows (two and four query positions of 32 query
    /// heads on 8 key/value heads) that was 2.6 to 3.2 times faster than the staged tiles in an alternating probe.
    /// </summary>
    public const int DirectRows = 4;

    /// <summary>
    /// The most query rows that see the same keys (the query heads of one key/value head, when decoding) that the one-row
    /// kernels compute as a group, each key and value vector loaded once for all of them: with two keys at a time, eight
    /// chains of multiply-adds for the scores, and on a 32-register file 16 accumulators for P·V.
    /// </summary>
    public const int GroupRows = 4;

    /// <summary>
    /// How many keys ahead of the ones it computes a group of one-row kernels (the query heads of a key/value head,
    /// when decoding) prefetches keys and values: 8 KiB of keys of 128 floats, 4 KiB of halves. A group's arithmetic
    /// per key is several rows' worth, and without the prefetch the hardware prefetchers fell behind: calls alternating
    /// with and without it in one process decoded 32768 tokens of 32 query heads on 8 key/value heads 1.3 (Half) to 2
    /// (Single, two threads) times slower without, and from floats 2.2–2.7 times slower with the JIT held to AVX2. On
    /// Zen 5 the same kind of probe decoded them 2–6% faster 16 keys ahead than 64 with AVX-512 and 4–10% faster with
    /// the JIT held to AVX2, from a float cache and a Half one, one thread and two (over 4096 tokens: from 2% slower to
    /// 8% faster with AVX-512, 4% faster with AVX2); 8 keys ahead was faster still from floats but 9% slower from
    /// halves with AVX-512, and 128 ahead slower than 64. The hints go one line per loop iteration, which spaces them
    /// out: issued four per step, they made grouped-query decoding 10–15% slower (4096 and 32768 tokens). On AMD cores
    /// the one-row kernel does not prefetch ahead this way (on Zen 5 the same test made multi-head decoding 30% slower
    /// with it); it fetches only the next <see cref="RowValueKeys"/> value rows, where its P·V takes more than one pass.
    /// On Intel cores it does, this many keys ahead, whatever the head's length: on an Intel Xeon (family 6 model 207) that
    /// decoded 8 heads of 128 over a Half cache 1.20–1.32 times as fast with AVX-512 in BenchmarkDotNet runs, and in a
    /// probe 1.25 times as fast with the JIT held to AVX2, where a head of 128 is sixteen vectors (docs/PERFORMANCE.md;
    /// the runtime's <c>KernelMath.PrefetchRowStreams</c>). A group's P·V on a 16-register file, which goes
    /// <see cref="RowValueKeys"/> keys at a time in passes of two vectors, asks for its value rows this many keys ahead
    /// into L2, shared out over the passes: with the JIT held to AVX2 on Zen 4, grouped-query decoding read a Single
    /// cache of 32768 tokens 1.22 times as fast that way as with the first pass asking for whole rows into L1.
    /// </summary>
    public const int PrefetchKeys = 16;

    /// <summary>
    /// How many keys ahead of the ones they compute the one-row and group kernels also ask for keys and values into L2,
    /// on Intel cores (the runtime's <c>KernelMath.PrefetchRowStreams</c>): 32 KiB of keys of 128 floats, 16 KiB of
    /// halves. With the L1 hints <see cref="PrefetchKeys"/> ahead alone, a Half cache still streamed from memory well
    /// below the rate a float cache did. On an Intel Xeon (family
    /// 6 model 207), calls alternating with and without these hints in one process decoded 32768 tokens 1.07–1.22 times
    /// as fast from a Half cache and 1.02–1.14 times from a float one (8 and 32 query heads on 8 key/value heads of 128,
    /// AVX-512 and the JIT held to AVX2, one thread and two); 32 and 128 keys ahead did as well as 64. Over 4096 tokens,
    /// which that machine's L3 holds between calls, they made calls 2–5% slower; a model's layers each have a cache of
    /// their own, so between one layer's calls the others' caches pass through L3.
    /// </summary>
    public const int PrefetchFarKeys = 64;

    /// <summary>Keys (Q·Kᵀ) or value elements (P·V) per register block of a row block on a 32-register file.</summary>
    public const int WideRegisterBlock = 16;

    /// <summary>
    /// Keys or value elements per register block on a 16-register file (AVX2, AVX, SSE): 12 accumulators, the query or
    /// probability vector and a broadcast temporary fit.
    /// </summary>
    public const int NarrowRegisterBlock = 12;

    /// <summary>
    /// Keys or value elements per register block where each row vector is a pair of vectors (16 rows in two Vector256 on
    /// AVX2, 32 in two Vector512 with AVX-512): 6 pairs of accumulators fill 12 of 16 registers, and each broadcast feeds
    /// two multiply-adds.
    /// </summary>
    public const int PairedRegisterBlock = 6;

    /// <summary>
    /// Keys per tile of the cached path when a Half cache is widened into scratch: as many as keep one tile of keys and
    /// one of values within 16 KiB, half the L1 data cache of current x64 and Arm cores, so that the halves streaming in
    /// do not evict them; a multiple of 16, from 16 to <see cref="KeyTile"/>. Measured with d = 128: a 32 KiB tile cost a
    /// Half cache 40% more time per key than a 16 KiB one.
    /// </summary>
    public static int CacheTile(int headDim, int valueDim) =>
        System.Math.Max(16, System.Math.Min(KeyTile, 4096 / (headDim + valueDim) / 16 * 16));
}
