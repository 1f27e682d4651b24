using System;
using System.ComponentModel;
using System.Threading;

namespace AttentionGen.CompilerServices;

/// <summary>
/// The multi-head attention layer behind a generated <c>Layer</c> (<see cref="AttentionProjectionsAttribute"/>), written
/// once for every kernel: the projections W_q, W_k and W_v, the kernel on their Bshd outputs, and W_o. Used by
/// generated code; not meant to be called directly.
/// </summary>
/// <remarks>
/// One call at a time: the layer keeps its projections in a workspace that it grows when a call needs more room and
/// otherwise reuses, so a warm call allocates nothing. With key padding only the rows of valid tokens are projected.
/// </remarks>
/// <typeparam name="TKernel">The generated kernel.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class AttentionLayer<TKernel>
    where TKernel : struct, IAttentionKernel
{
    private const int QueryPart = 0, KeyPart = 1, ValuePart = 2;

    // Q, K and V as three parts of one layer when they read rows of one size (self-attention then projects them in one
    // pass), else three layers.
    private readonly Linear? _fused;
    private readonly Linear[] _separate;
    private readonly Linear _output;
    private float[] _workspace = Array.Empty<float>();
    private int[] _rows = Array.Empty<int>();
    private int _busy;

    /// <summary>Packs the four projections. Each weight is [inputs, outputs], as <c>x · W</c> reads it; each bias is empty or outputs long.</summary>
    /// <exception cref="ArgumentException">A weight or bias has the wrong length for its shape.</exception>
    public AttentionLayer(
        int querySize, int keySize, int valueSize, int outputSize,
        ReadOnlySpan<float> queryWeight, ReadOnlySpan<float> queryBias, ReadOnlySpan<float> keyWeight, ReadOnlySpan<float> keyBias,
        ReadOnlySpan<float> valueWeight, ReadOnlySpan<float> valueBias, ReadOnlySpan<float> outputWeight, ReadOnlySpan<float> outputBias)
    {
        QuerySize = querySize;
        KeySize = keySize;
        ValueSize = valueSize;
        OutputSize = outputSize;
        Linear query = Create(queryWeight, nameof(queryWeight), queryBias, nameof(queryBias), querySize, QueryWidth);
        Linear key = Create(keyWeight, nameof(keyWeight), keyBias, nameof(keyBias), keySize, KeyWidth);
        Linear value = Create(valueWeight, nameof(valueWeight), valueBias, nameof(valueBias), valueSize, ValueWidth);
        _output = Create(outputWeight, nameof(outputWeight), outputBias, nameof(outputBias), ContextWidth, outputSize);
        if (querySize == keySize && keySize == valueSize)
        {
            _fused = Linear.Concatenate(query, key, value);
            _separate = Array.Empty<Linear>();
        }
        else
        {
            _separate = [query, key, value];
        }
    }

    /// <summary>Size of a query input row.</summary>
    public int QuerySize { get; }

    /// <summary>Size of a key input row.</summary>
    public int KeySize { get; }

    /// <summary>Size of a value input row.</summary>
    public int ValueSize { get; }

    /// <summary>Size of an output row.</summary>
    public int OutputSize { get; }

    private static int QueryWidth => TKernel.Heads * TKernel.HeadDim;

    private static int KeyWidth => TKernel.KvHeads * TKernel.HeadDim;

    private static int ValueWidth => TKernel.KvHeads * TKernel.ValueDim;

    private static int ContextWidth => TKernel.Heads * TKernel.ValueDim;

    private static bool HasKeyPadding => (TKernel.Mask & AttentionMask.KeyPadding) != 0;

    /// <summary>
    /// Self-attention: queries, keys and values are projections of the same rows, [batch, length, QuerySize], projected
    /// in one pass; output is [batch, length, OutputSize]. With key padding, the rows of entry b from keyLengths[b] on are
    /// padding: they are not projected, no row attends to them, and their output rows are zeros. With
    /// <paramref name="writesWeights"/>, the kernel also writes its attention weights, as the kernel's weights overload
    /// does, and the weights of padding rows are zeros too.
    /// </summary>
    public void SelfAttention(
        ReadOnlySpan<float> input, Span<float> output, int batch, int length, ReadOnlySpan<int> keyLengths, ExplicitMask mask,
        bool writesWeights = false, Span<float> weights = default, AttentionWeights kind = default)
    {
        CheckSizes(batch, length, nameof(length), length, nameof(length));
        int rows = batch * length;
        CheckLength(input, "input", rows, QuerySize);
        CheckLength(output, "output", rows, OutputSize);
        CheckOverlap(output, input, "input");
        Enter();
        try
        {
            Span<float> workspace = Workspace(rows, rows, out Span<float> query, out Span<float> key, out Span<float> value, out Span<float> context);
            ReadOnlySpan<int> realRows = RealRows(keyLengths, batch, length);
            input = input.Slice(0, rows * QuerySize);
            if (_fused is not null)
            {
                _fused.Apply(input, workspace.Slice(0, query.Length + key.Length + value.Length), rows, realRows);
            }
            else
            {
                Project(QueryPart, input, query, rows, realRows);
                Project(KeyPart, input, key, rows, realRows);
                Project(ValuePart, input, value, rows, realRows);
            }

            if (HasKeyPadding && !writesWeights && (TKernel.Mask & (AttentionMask.Causal | AttentionMask.SlidingWindow | AttentionMask.Explicit)) == 0)
            {
                // Key padding alone: entry b's valid rows attend to its valid keys only, so each entry runs on its own
                // with queryLength = keyLength = keyLengths[b], and the query rows of padding, whose outputs are zeros
                // anyway, cost nothing. (A positional or explicit mask would place or index the rows differently.)
                for (int b = 0; b < batch; b++)
                {
                    int n = keyLengths[b];
                    Attend(
                        query.Slice(b * length * QueryWidth, n * QueryWidth), key.Slice(b * length * KeyWidth, n * KeyWidth),
                        value.Slice(b * length * ValueWidth, n * ValueWidth), context.Slice(b * length * ContextWidth, n * ContextWidth),
                        1, n, n, keyLengths.Slice(b, 1), mask, writesWeights: false, default, default);
                }
            }
            else
            {
                Attend(query, key, value, context, batch, length, length, keyLengths, mask, writesWeights, weights, kind);
            }

            WriteOutput(context, output.Slice(0, rows * OutputSize), rows, realRows);
            if (writesWeights && HasKeyPadding)
            {
                // Rows of padding were not projected: their weights, like their outputs, are zeros.
                for (int b = 0; b < batch; b++)
                {
                    for (int head = 0; head < TKernel.Heads; head++)
                    {
                        int firstPadding = (b * TKernel.Heads + head) * length + keyLengths[b];
                        weights.Slice(firstPadding * length, (length - keyLengths[b]) * length).Clear();
                    }
                }
            }
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>
    /// Attention of [batch, queryLength, QuerySize] queries over [batch, keyLength, KeySize] keys and
    /// [batch, keyLength, ValueSize] values; output is [batch, queryLength, OutputSize]. With key padding, the keys
    /// and values of entry b from keyLengths[b] on are padding: they are not projected and no row attends to them. With
    /// <paramref name="writesWeights"/>, the kernel also writes its attention weights, as the kernel's weights overload does.
    /// </summary>
    public void CrossAttention(
        ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        int batch, int queryLength, int keyLength, ReadOnlySpan<int> keyLengths, ExplicitMask mask,
        bool writesWeights = false, Span<float> weights = default, AttentionWeights kind = default)
    {
        CheckSizes(batch, queryLength, nameof(queryLength), keyLength, nameof(keyLength));
        int queryRows = batch * queryLength, keyRows = batch * keyLength;
        CheckLength(queries, "queries", queryRows, QuerySize);
        CheckLength(keys, "keys", keyRows, KeySize);
        CheckLength(values, "values", keyRows, ValueSize);
        CheckLength(output, "output", queryRows, OutputSize);
        CheckOverlap(output, queries, "queries");
        CheckOverlap(output, keys, "keys");
        CheckOverlap(output, values, "values");
        Enter();
        try
        {
            Workspace(queryRows, keyRows, out Span<float> query, out Span<float> key, out Span<float> value, out Span<float> context);
            ReadOnlySpan<int> realKeys = RealRows(keyLengths, batch, keyLength);
            Project(QueryPart, queries.Slice(0, queryRows * QuerySize), query, queryRows, default);
            Project(KeyPart, keys.Slice(0, keyRows * KeySize), key, keyRows, realKeys);
            Project(ValuePart, values.Slice(0, keyRows * ValueSize), value, keyRows, realKeys);
            Attend(query, key, value, context, batch, queryLength, keyLength, keyLengths, mask, writesWeights, weights, kind);
            _output.Apply(context, output.Slice(0, queryRows * OutputSize), queryRows);
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    private void Project(int part, ReadOnlySpan<float> input, Span<float> output, int rows, ReadOnlySpan<int> onlyRows)
    {
        if (_fused is not null)
        {
            _fused.ApplyPart(part, input, output, rows, onlyRows);
        }
        else
        {
            _separate[part].Apply(input, output, rows, onlyRows);
        }
    }

    /// <summary>The kernel on the projections, checked as a Forward call is: key lengths and mask, before the output is written.</summary>
    private static void Attend(
        Span<float> query, Span<float> key, Span<float> value, Span<float> context, int batch, int queryLength, int keyLength,
        ReadOnlySpan<int> keyLengths, ExplicitMask mask, bool writesWeights, Span<float> weights, AttentionWeights kind)
    {
        var arguments = new AttentionArguments(query, key, value, context, batch, queryLength, keyLength, HasKeyPadding ? keyLengths : default, mask);
        if (writesWeights)
        {
            arguments = arguments.WithWeights(weights, kind);
        }

        AttentionValidation.ValidateForward<TKernel>(in arguments);
        AttentionScheduler.Run<TKernel>(in arguments);
    }

    /// <summary>W_o of the valid rows; the rows of padding are zeros.</summary>
    private void WriteOutput(Span<float> context, Span<float> output, int rows, ReadOnlySpan<int> realRows)
    {
        if (!realRows.IsEmpty || !HasKeyPadding)
        {
            _output.Apply(context, output, rows, realRows);
        }

        if (HasKeyPadding)
        {
            int next = 0;
            for (int row = 0; row < rows; row++)
            {
                if (next < realRows.Length && realRows[next] == row)
                {
                    next++;
                }
                else
                {
                    output.Slice(row * OutputSize, OutputSize).Clear();
                }
            }
        }
    }

    /// <summary>With key padding, the rows b · length + t with t below keyLengths[b] (checked first); otherwise empty: all rows.</summary>
    private ReadOnlySpan<int> RealRows(ReadOnlySpan<int> keyLengths, int batch, int length)
    {
        if (!HasKeyPadding)
        {
            return default;
        }

        if (keyLengths.Length < batch)
        {
            throw new ArgumentException(Format("keyLengths has {0} entries; the batch has {1}.", keyLengths.Length, batch), nameof(keyLengths));
        }

        int count = 0;
        for (int b = 0; b < batch; b++)
        {
            if ((uint)keyLengths[b] > (uint)length)
            {
                throw new ArgumentOutOfRangeException(nameof(keyLengths), keyLengths[b], Format("keyLengths[{0}] must be from 0 to {1}.", b, length));
            }

            for (int t = 0; t < keyLengths[b]; t++)
            {
                _rows[count++] = b * length + t;
            }
        }

        return _rows.AsSpan(0, count);
    }

    /// <summary>
    /// The workspace for a call, grown only when this call needs more: Q, K and V one after another (as a fused
    /// projection writes them), then the kernel's output.
    /// </summary>
    private Span<float> Workspace(int queryRows, int keyRows, out Span<float> query, out Span<float> key, out Span<float> value, out Span<float> context)
    {
        long floats = (long)queryRows * (QueryWidth + ContextWidth) + (long)keyRows * (KeyWidth + ValueWidth);
        if (floats > Array.MaxLength)
        {
            throw new ArgumentException(Format("The call needs a workspace of {0} floats, more than one array holds; use smaller batches.", floats), "batch");
        }

        if (_workspace.Length < floats)
        {
            _workspace = new float[floats];
        }

        if (_rows.Length < Math.Max(queryRows, keyRows))
        {
            _rows = new int[Math.Max(queryRows, keyRows)];
        }

        Span<float> workspace = _workspace.AsSpan(0, (int)floats);
        query = workspace.Slice(0, queryRows * QueryWidth);
        key = workspace.Slice(query.Length, keyRows * KeyWidth);
        value = workspace.Slice(query.Length + key.Length, keyRows * ValueWidth);
        context = workspace.Slice(query.Length + key.Length + value.Length);
        return workspace;
    }

    private void Enter()
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            throw new InvalidOperationException("This layer is already running a call on another thread. A layer runs one call at a time; use one layer per thread.");
        }
    }

    private static void CheckSizes(int batch, int queryLength, string queryLengthName, int keyLength, string keyLengthName)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch, nameof(batch));
        ArgumentOutOfRangeException.ThrowIfNegative(queryLength, queryLengthName);
        ArgumentOutOfRangeException.ThrowIfNegative(keyLength, keyLengthName);
    }

    private static void CheckLength(ReadOnlySpan<float> span, string name, int rows, int size)
    {
        long needed = (long)rows * size;
        if (span.Length < needed)
        {
            throw new ArgumentException(Format("{0} is too short: [{1} rows, {2}] needs {3} elements, but the span has {4}.", name, rows, size, needed, span.Length), name);
        }
    }

    private static void CheckOverlap(ReadOnlySpan<float> output, ReadOnlySpan<float> input, string name)
    {
        if (output.Overlaps(input))
        {
            throw new ArgumentException(Format("output overlaps {0}: the two must not share memory. Use a separate output buffer.", name), "output");
        }
    }

    private static Linear Create(ReadOnlySpan<float> weight, string weightName, ReadOnlySpan<float> bias, string biasName, int inputs, int outputs) =>
        new(weight, weightName, bias, biasName, inputs, outputs);

    private static string Format(string format, params object[] args) => AttentionValidation.Format(format, args);
}
