using System.ComponentModel;

namespace AttentionGen.CompilerServices;

/// <summary>
/// What a generated kernel holds: its configuration as constants, and the fused inner loops whose shape depends on
/// it. Everything else (work items, walking tensors and caches, tiles, the online softmax, merging) lives once in
/// the runtime (AttentionWork, RowBlock and RowKernel in this namespace), generic over this interface.
/// The kernel is a struct and each member a constant or an inlined call, so the JIT compiles that shared code once per
/// kernel with every constant folded. Implemented by generated code; not meant to be implemented by hand.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IAttentionKernel
{
    /// <summary>Query heads.</summary>
    static abstract int Heads { get; }

    /// <summary>Key/value heads; query head h reads key/value head h / (Heads / KvHeads).</summary>
    static abstract int KvHeads { get; }

    /// <summary>Floats in a query or key head.</summary>
    static abstract int HeadDim { get; }

    /// <summary>Floats in a value or output head.</summary>
    static abstract int ValueDim { get; }

    /// <summary>The tensors' layout.</summary>
    static abstract AttentionLayout Layout { get; }

    /// <summary>The masks, combined.</summary>
    static abstract AttentionMask Mask { get; }

    /// <summary>Where query row i sits among the keys, for the positional masks.</summary>
    static abstract MaskAlignment Alignment { get; }

    /// <summary>With a sliding window: the keys visible before the query position.</summary>
    static abstract int WindowLeft { get; }

    /// <summary>With a sliding window: the keys visible after the query position.</summary>
    static abstract int WindowRight { get; }

    /// <summary>The score scale: s = Scale · (q · k).</summary>
    static abstract float Scale { get; }

    /// <summary>The soft cap c (s becomes c · tanh(s / c)), or 0 for none.</summary>
    static abstract float Softcap { get; }

    /// <summary>
    /// The keys a query row at key position <paramref name="position"/> sees, among <paramref name="valid"/> keys: one
    /// interval [<paramref name="firstKey"/>, <paramref name="endKey"/>), empty when the row sees none.
    /// </summary>
    static abstract void VisibleRange(long position, int valid, out int firstKey, out int endKey);

    /// <summary>
    /// The Q·Kᵀ register block of a row block on a 32-register file: 16 keys, <paramref name="stride"/> floats apart,
    /// scored against the block's transposed, scaled queries <paramref name="qT"/> ([HeadDim][lanes]), into
    /// <paramref name="sT"/> ([16][lanes]).
    /// </summary>
    /// <remarks>
    /// The register blocks take key and value elements from their addresses (<see cref="ISimd{TVector}.ScalarFrom"/>), so keys and
    /// values must lie in memory that does not move while they run: AttentionScheduler.Run pins the tensors, and the
    /// copies the blocks read instead (staged heads, the cache, scratch) are pinned arrays.
    /// </remarks>
    static abstract void ScoreKeys16<TSimd, TVector>(ref float qT, ref float k, nint stride, ref float sT)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct;

    /// <summary>
    /// <see cref="ScoreKeys16"/> in the form that <see cref="ISimd{TVector}.MultipliesByLane"/> asks for (Arm64): four
    /// head elements a step, four elements of each key loaded at once and each multiplied in place
    /// (<see cref="ISimd{TVector}.MultiplyAddLane"/>, NEON's multiply-add by element).
    /// </summary>
    static abstract void ScoreKeysByLane16<TSimd, TVector>(ref float qT, ref float k, nint stride, ref float sT)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct;

    /// <summary>The Q·Kᵀ register block on a 16-register file: 12 keys.</summary>
    static abstract void ScoreKeys12<TSimd, TVector>(ref float qT, ref float k, nint stride, ref float sT)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct;

    /// <summary>
    /// The Q·Kᵀ register block on a 16-register file with each row vector a pair of <typeparamref name="TSimd"/> vectors
    /// (2 · TSimd.Count rows, [element][2 · TSimd.Count] at <paramref name="qT"/> and <paramref name="sT"/>): 6 keys, 12
    /// accumulators, each broadcast feeding two multiply-adds.
    /// </summary>
    static abstract void ScoreKeysPaired6<TSimd, TVector>(ref float qT, ref float k, nint stride, ref float sT)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct;

    /// <summary>One key scored against a row block: the keys left after a tile's last whole register block.</summary>
    static abstract void ScoreKey<TSimd, TVector>(ref float qT, ref float k, ref float sT)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct;

    /// <summary>
    /// The P·V register block of a row block on a 32-register file: rescales the transposed output accumulators
    /// <paramref name="oT"/> ([ValueDim][lanes]) by <paramref name="correction"/> when <paramref name="rescale"/> is set,
    /// then adds <paramref name="count"/> keys' probabilities <paramref name="pT"/> ([count][lanes]) times their values,
    /// rows <paramref name="valueStride"/> floats apart, 16 value elements at a time.
    /// </summary>
    static abstract void Accumulate16<TSimd, TVector>(ref float pT, int count, ref float v, nint valueStride, ref float oT, bool rescale, TVector correction)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct;

    /// <summary>
    /// <see cref="Accumulate16"/> in the form that <see cref="ISimd{TVector}.MultipliesByLane"/> asks for (Arm64): each
    /// key's value elements loaded four at a time and each multiplied in place.
    /// </summary>
    static abstract void AccumulateByLane16<TSimd, TVector>(ref float pT, int count, ref float v, nint valueStride, ref float oT, bool rescale, TVector correction)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct;

    /// <summary>The P·V register block on a 16-register file: 12 value elements at a time.</summary>
    static abstract void Accumulate12<TSimd, TVector>(ref float pT, int count, ref float v, nint valueStride, ref float oT, bool rescale, TVector correction)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct;

    /// <summary>
    /// The P·V register block on a 16-register file with each row vector a pair of <typeparamref name="TSimd"/> vectors: 6
    /// value elements at a time, 12 accumulators; the correction is the pair's two halves.
    /// </summary>
    static abstract void AccumulatePaired6<TSimd, TVector>(ref float pT, int count, ref float v, nint valueStride, ref float oT, bool rescale, TVector correctionLow, TVector correctionHigh)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct;
}
