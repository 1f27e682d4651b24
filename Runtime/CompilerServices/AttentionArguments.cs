using System;
using System.ComponentModel;
using System.Threading;

namespace AttentionGen.CompilerServices;

/// <summary>
/// The arguments of one <c>Forward</c> call, as a generated kernel receives them. Used by generated code; not
/// meant to be called directly.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly ref struct AttentionArguments
{
    /// <summary>Bundles the arguments of a <c>Forward</c> call. They are assumed to be validated already.</summary>
    public AttentionArguments(
        ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
        int batch, int queryLength, int keyLength, ReadOnlySpan<int> keyLengths, ExplicitMask mask)
    {
        Query = query;
        Key = key;
        Value = value;
        Output = output;
        Batch = batch;
        QueryLength = queryLength;
        KeyLength = keyLength;
        KeyLengths = keyLengths;
        Mask = mask;
        CallId = Interlocked.Increment(ref s_calls);
    }

    /// <summary>Bundles the arguments of a <c>Forward</c> call over a <see cref="KvCache"/>. They are assumed to be validated already.</summary>
    public AttentionArguments(ReadOnlySpan<float> query, KvCache cache, Span<float> output, int batch, int queryLength, ExplicitMask mask)
        : this(query, default, default, output, batch, queryLength, keyLength: 0, default, mask)
    {
        Cache = cache;
        Splits = 1;
    }

    /// <summary>A cached call's arguments with the key ranges split <paramref name="splits"/> ways, each split's partial softmax state going to <paramref name="partials"/>.</summary>
    internal AttentionArguments(scoped in AttentionArguments cached, Span<float> partials, int splits)
        : this(cached.Query, cached.Cache!, cached.Output, cached.Batch, cached.QueryLength, cached.Mask)
    {
        Partials = partials;
        Splits = splits;
    }


    /// <summary>
    /// These arguments with the attention weights also wanted: <paramref name="kind"/> for every (batch entry, head, query
    /// row, key) into <paramref name="weights"/>, <c>[batch, Heads, queryLength, keyLength]</c>. Tensor calls only.
    /// </summary>
    /// <param name="weights">Receives the weights.</param>
    /// <param name="kind">What they are: ONNX's qk_matmul_output modes.</param>
    public AttentionArguments WithWeights(Span<float> weights, AttentionWeights kind) =>
        this with { Weights = weights, WeightsKind = kind, WritesWeights = true };

    /// <summary>
    /// These arguments with each query row's log-sum-exp also wanted, <c>log Σ exp(s)</c> over its visible keys' masked
    /// scores (−∞ for a row that sees none), into <paramref name="logSumExp"/>, <c>[batch, Heads, queryLength]</c>. Tensor calls only.
    /// </summary>
    /// <param name="logSumExp">Receives the log-sum-exp of each row.</param>
    public AttentionArguments WithLogSumExp(Span<float> logSumExp) =>
        this with { LogSumExp = logSumExp, WritesLogSumExp = true };

    /// <summary>Whether the call writes attention weights (<see cref="WithWeights"/>).</summary>
    public bool WritesWeights { get; private init; }

    /// <summary>With <see cref="WritesWeights"/>: where they go, <c>[batch, Heads, queryLength, keyLength]</c>.</summary>
    public Span<float> Weights { get; private init; }

    /// <summary>With <see cref="WritesWeights"/>: what they are.</summary>
    public AttentionWeights WeightsKind { get; private init; }

    /// <summary>Whether the call writes each row's log-sum-exp (<see cref="WithLogSumExp"/>).</summary>
    public bool WritesLogSumExp { get; private init; }

    /// <summary>With <see cref="WritesLogSumExp"/>: where it goes, <c>[batch, Heads, queryLength]</c>.</summary>
    public Span<float> LogSumExp { get; private init; }

    /// <summary>With a cache: the cache, which holds the keys and values; otherwise <see langword="null"/>.</summary>
    public KvCache? Cache { get; }

    /// <summary>
    /// With a cache: into how many key ranges each (batch entry, key/value head) is split. With more than one, each
    /// split leaves its rows' partial softmax states in <see cref="Partials"/> and the scheduler merges them.
    /// </summary>
    public int Splits { get; }

    /// <summary>
    /// With a cache split more than one way: the partial states, <see cref="OnlineSoftmax.StateSize"/> floats each, for
    /// [batch, KvHeads, GroupSize · queryLength rows, Splits].
    /// </summary>
    public Span<float> Partials { get; }

    /// <summary>The query tensor.</summary>
    public ReadOnlySpan<float> Query { get; }

    /// <summary>The key tensor.</summary>
    public ReadOnlySpan<float> Key { get; }

    /// <summary>The value tensor.</summary>
    public ReadOnlySpan<float> Value { get; }

    /// <summary>The output tensor.</summary>
    public Span<float> Output { get; }

    /// <summary>The batch size.</summary>
    public int Batch { get; }

    /// <summary>The number of query rows per batch entry and head.</summary>
    public int QueryLength { get; }

    /// <summary>The number of key rows per batch entry and key/value head.</summary>
    public int KeyLength { get; }

    /// <summary>With key padding: the number of valid keys of each batch entry; otherwise empty.</summary>
    public ReadOnlySpan<int> KeyLengths { get; }

    /// <summary>With an explicit mask: the mask; otherwise <see langword="default"/>.</summary>
    public ExplicitMask Mask { get; }

    /// <summary>
    /// Unique to one call (these arguments and the ones made from them): what tells a thread that a copy it staged of
    /// some head's keys and values in an earlier work item is still the one this call reads (<see cref="TensorHeads"/>).
    /// </summary>
    internal long CallId { get; }

    private static long s_calls;
}
