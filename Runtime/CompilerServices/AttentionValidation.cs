using System;
using System.ComponentModel;
using System.Globalization;

namespace AttentionGen.CompilerServices;

/// <summary>
/// Argument checks shared by every generated <c>Forward</c> method and <see cref="ReferenceAttention"/>. Each
/// failure names the parameter, the expected size and the actual one, and happens before anything is written.
/// Used by generated code; not meant to be called directly.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class AttentionValidation
{
    /// <summary>Checks the arguments of a generated kernel's <c>Forward</c> call over tensors against its constants.</summary>
    /// <typeparam name="TKernel">The generated kernel.</typeparam>
    /// <param name="arguments">The call's arguments.</param>
    /// <exception cref="ArgumentOutOfRangeException">A length is negative, or a <c>keyLengths</c> entry is outside [0, keyLength].</exception>
    /// <exception cref="ArgumentException">
    /// A span is shorter than its shape needs, the mask does not fit, or output overlaps an input other than by computing
    /// in place over the query.
    /// </exception>
    public static void ValidateForward<TKernel>(scoped in AttentionArguments arguments)
        where TKernel : struct, IAttentionKernel
    {
        ValidateForward(TKernel.Heads, TKernel.KvHeads, TKernel.HeadDim, TKernel.ValueDim, TKernel.Mask, TKernel.Layout, in arguments);
        if (arguments.WritesWeights || arguments.WritesLogSumExp)
        {
            if (arguments.WritesWeights && arguments.WeightsKind is < AttentionWeights.Scores or > AttentionWeights.Probabilities)
            {
                throw new ArgumentOutOfRangeException("kind", arguments.WeightsKind, "kind must be one of the AttentionWeights values.");
            }

            ValidateWeights(arguments.Weights, arguments.WritesWeights, arguments.LogSumExp, arguments.WritesLogSumExp, in arguments, TKernel.Heads);
        }
    }

    /// <summary>Checks the arguments of a generated kernel's <c>Forward</c> call over a <see cref="KvCache"/> against its constants.</summary>
    /// <typeparam name="TKernel">The generated kernel.</typeparam>
    /// <param name="arguments">The call's arguments.</param>
    /// <exception cref="ArgumentNullException">The cache is null.</exception>
    /// <exception cref="InvalidOperationException">Another thread appended to or cleared the cache during the checks.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A length is negative, or queryLength is more than some entry of the cache holds.</exception>
    /// <exception cref="ArgumentException">
    /// The cache's dims or batch do not match, a span is too short, the mask does not fit, output overlaps an input other
    /// than by computing in place over the query, or a ring cache no longer holds keys that the queries see.
    /// </exception>
    public static void ValidateCachedForward<TKernel>(scoped in AttentionArguments arguments)
        where TKernel : struct, IAttentionKernel =>
        ValidateCachedForward(
            TKernel.Heads, TKernel.KvHeads, TKernel.HeadDim, TKernel.ValueDim, TKernel.Mask, TKernel.Layout,
            (TKernel.Mask & AttentionMask.SlidingWindow) != 0 ? TKernel.WindowLeft : -1, in arguments);

    /// <summary>Checks the arguments of a <c>Forward</c> call against a kernel's constants.</summary>
    /// <param name="heads">The kernel's number of query heads.</param>
    /// <param name="kvHeads">The kernel's number of key/value heads.</param>
    /// <param name="headDim">The kernel's query/key head size.</param>
    /// <param name="valueDim">The kernel's value head size.</param>
    /// <param name="mask">The kernel's mask flags: they decide whether <c>keyLengths</c> and <c>mask</c> are used.</param>
    /// <param name="layout">The kernel's layout, used to name the axes in messages.</param>
    /// <param name="arguments">The call's arguments.</param>
    /// <exception cref="ArgumentOutOfRangeException">A length is negative, or a <c>keyLengths</c> entry is outside [0, keyLength].</exception>
    /// <exception cref="ArgumentException">
    /// A span is shorter than its shape needs, the mask does not fit, or output overlaps an input other than by computing
    /// in place over the query.
    /// </exception>
    internal static void ValidateForward(int heads, int kvHeads, int headDim, int valueDim, AttentionMask mask, AttentionLayout layout, scoped in AttentionArguments arguments)
    {
        int batch = arguments.Batch, queryLength = arguments.QueryLength, keyLength = arguments.KeyLength;
        ArgumentOutOfRangeException.ThrowIfNegative(batch, "batch");
        ArgumentOutOfRangeException.ThrowIfNegative(queryLength, "queryLength");
        ArgumentOutOfRangeException.ThrowIfNegative(keyLength, "keyLength");

        bool bshd = layout == AttentionLayout.Bshd;
        CheckLength(arguments.Query.Length, "query", bshd, batch, "queryLength", queryLength, "Heads", heads, "HeadDim", headDim);
        CheckLength(arguments.Key.Length, "key", bshd, batch, "keyLength", keyLength, "KvHeads", kvHeads, "HeadDim", headDim);
        CheckLength(arguments.Value.Length, "value", bshd, batch, "keyLength", keyLength, "KvHeads", kvHeads, "ValueDim", valueDim);
        CheckLength(arguments.Output.Length, "output", bshd, batch, "queryLength", queryLength, "Heads", heads, "ValueDim", valueDim);

        if ((mask & AttentionMask.KeyPadding) != 0)
        {
            ReadOnlySpan<int> keyLengths = arguments.KeyLengths;
            if (keyLengths.Length < batch)
            {
                throw new ArgumentException(
                    Format("keyLengths needs one entry per batch entry, {0}, but has {1}.", batch, keyLengths.Length), "keyLengths");
            }

            for (int b = 0; b < batch; b++)
            {
                if ((uint)keyLengths[b] > (uint)keyLength)
                {
                    throw new ArgumentOutOfRangeException(
                        "keyLengths", keyLengths[b], Format("keyLengths[{0}] must be from 0 to keyLength ({1}), but is {2}.", b, keyLength, keyLengths[b]));
                }
            }
        }

        if ((mask & AttentionMask.Explicit) != 0)
        {
            ValidateMask(arguments.Mask, batch, heads, queryLength, keyLength, "keyLength");
        }

        ValidateOverlaps(in arguments, Elements(batch, queryLength, heads, headDim), Elements(batch, queryLength, heads, valueDim), Elements(batch, keyLength, kvHeads, headDim), Elements(batch, keyLength, kvHeads, valueDim));
    }

    /// <summary>Checks the arguments of a <c>Forward</c> call over a <see cref="KvCache"/> against a kernel's constants.</summary>
    /// <param name="heads">The kernel's number of query heads.</param>
    /// <param name="kvHeads">The kernel's number of key/value heads.</param>
    /// <param name="headDim">The kernel's query/key head size.</param>
    /// <param name="valueDim">The kernel's value head size.</param>
    /// <param name="mask">The kernel's mask flags: they decide whether the explicit mask is used.</param>
    /// <param name="layout">The kernel's layout, used to name the axes in messages.</param>
    /// <param name="windowLeft">The kernel's WindowLeft with a sliding window, else −1: how far back its queries look.</param>
    /// <param name="arguments">The call's arguments.</param>
    /// <exception cref="ArgumentNullException">The cache is null.</exception>
    /// <exception cref="InvalidOperationException">Another thread appended to or cleared the cache during the checks.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A length is negative, or queryLength is more than some entry of the cache holds.</exception>
    /// <exception cref="ArgumentException">
    /// The cache's dims or batch do not match, a span is too short, the mask does not fit, output overlaps an input other
    /// than by computing in place over the query, or a ring cache no longer holds keys that the queries see.
    /// </exception>
    internal static void ValidateCachedForward(
        int heads, int kvHeads, int headDim, int valueDim, AttentionMask mask, AttentionLayout layout, int windowLeft, scoped in AttentionArguments arguments)
    {
        KvCache cache = arguments.Cache ?? throw new ArgumentNullException("cache");
        long version = cache.Version;
        try
        {
            ValidateCachedForward(heads, kvHeads, headDim, valueDim, mask, layout, windowLeft, in arguments, cache);
        }
        catch (ArgumentException exception) when (cache.WrittenSince(version))
        {
            // The cache changed under the checks: another thread wrote it, which is the error to report.
            throw KvCache.ConcurrentWrite(exception);
        }
    }

    private static void ValidateCachedForward(
        int heads, int kvHeads, int headDim, int valueDim, AttentionMask mask, AttentionLayout layout, int windowLeft, scoped in AttentionArguments arguments, KvCache cache)
    {
        int batch = arguments.Batch, queryLength = arguments.QueryLength;
        ArgumentOutOfRangeException.ThrowIfNegative(batch, "batch");
        ArgumentOutOfRangeException.ThrowIfNegative(queryLength, "queryLength");
        if (cache.KvHeads != kvHeads || cache.HeadDim != headDim || cache.ValueDim != valueDim)
        {
            throw new ArgumentException(
                Format("The cache holds {0} key/value heads with headDim {1} and valueDim {2}, but this attention type has KvHeads = {3}, HeadDim = {4} and ValueDim = {5}. Create the cache with the type's CreateCache method.",
                    cache.KvHeads, cache.HeadDim, cache.ValueDim, kvHeads, headDim, valueDim),
                "cache");
        }

        if (batch != cache.Batch)
        {
            throw new ArgumentException(Format("batch is {0}, but the cache holds {1} batch entries; they must be equal.", batch, cache.Batch), "batch");
        }

        bool bshd = layout == AttentionLayout.Bshd;
        CheckLength(arguments.Query.Length, "query", bshd, batch, "queryLength", queryLength, "Heads", heads, "HeadDim", headDim);
        CheckLength(arguments.Output.Length, "output", bshd, batch, "queryLength", queryLength, "Heads", heads, "ValueDim", valueDim);
        if ((mask & AttentionMask.Explicit) != 0)
        {
            ValidateMask(arguments.Mask, batch, heads, queryLength, cache.Length, "the cache's Length");
        }

        ValidateOverlaps(in arguments, Elements(batch, queryLength, heads, headDim), Elements(batch, queryLength, heads, valueDim), 0, 0);
        for (int b = 0; b < batch; b++)
        {
            if (queryLength > cache.GetLength(b))
            {
                throw new ArgumentOutOfRangeException(
                    "queryLength", queryLength,
                    Format("queryLength is {0}, but batch entry {1} of the cache holds {2} tokens. The queries are each entry's newest queryLength tokens, so append their keys and values to the cache first.",
                        queryLength, b, cache.GetLength(b)));
            }

            long evicted = cache.GetSequenceLength(b) - cache.GetLength(b);
            if (evicted == 0)
            {
                continue;
            }

            if (windowLeft < 0)
            {
                throw new ArgumentException(
                    Format("Batch entry {0} of the cache has evicted its {1} oldest tokens, which this attention type's queries still see: only a type declared with AttentionMask.SlidingWindow can use a cache with KvCacheOverflow.EvictOldest.", b, evicted),
                    "cache");
            }

            if ((long)windowLeft + queryLength > cache.GetLength(b))
            {
                throw new ArgumentException(
                    Format("Batch entry {0} of the cache has evicted tokens that its first query row still sees: the rows look back WindowLeft = {1} tokens, so the cache must hold WindowLeft + queryLength = {2}, but its capacity is {3}. Use a larger capacity or fewer query rows per call.",
                        b, windowLeft, (long)windowLeft + queryLength, cache.Capacity),
                    "cache");
            }
        }
    }

    /// <summary>
    /// Checks the attention-weight and log-sum-exp outputs of a <c>Forward</c> that writes them: each wanted one is long
    /// enough for its shape, and neither overlaps the other, the output or an input.
    /// </summary>
    internal static void ValidateWeights(Span<float> weights, bool writesWeights, Span<float> logSumExp, bool writesLogSumExp, scoped in AttentionArguments arguments, int heads)
    {
        int batch = arguments.Batch, queryLength = arguments.QueryLength, keyLength = arguments.KeyLength;
        if (writesWeights)
        {
            Int128 needed = Elements(batch, heads, queryLength, keyLength);
            if (weights.Length < needed)
            {
                throw new ArgumentException(
                    Format("weights is too short: [batch, Heads, queryLength, keyLength] = [{0}, {1}, {2}, {3}] needs {4} elements, but the span has {5}.",
                        batch, heads, queryLength, keyLength, needed, weights.Length),
                    "weights");
            }
        }

        if (writesLogSumExp)
        {
            Int128 needed = Elements(batch, heads, queryLength, 1);
            if (logSumExp.Length < needed)
            {
                throw new ArgumentException(
                    Format("logSumExp is too short: [batch, Heads, queryLength] = [{0}, {1}, {2}] needs {3} elements, but the span has {4}.",
                        batch, heads, queryLength, needed, logSumExp.Length),
                    "logSumExp");
            }
        }

        CheckOwnMemory(weights, "weights", in arguments);
        CheckOwnMemory(logSumExp, "logSumExp", in arguments);

        if (!weights.IsEmpty && weights.Overlaps(logSumExp))
        {
            throw new ArgumentException("weights and logSumExp overlap; each must have memory of its own.", "weights");
        }
    }

    private static void CheckOwnMemory(ReadOnlySpan<float> span, string name, scoped in AttentionArguments arguments)
    {
        if (span.Overlaps(arguments.Output) || span.Overlaps(arguments.Query) || span.Overlaps(arguments.Key) || span.Overlaps(arguments.Value)
            || (!arguments.Mask.IsDefault && span.Overlaps(arguments.Mask.AdditiveValues)))
        {
            throw new ArgumentException(Format("{0} overlaps the output or an input; it must have memory of its own.", name), name);
        }
    }

    /// <summary>
    /// Rejects an output that shares memory with an input, which the kernels would read after writing to it: only
    /// <c>output</c> and <c>query</c> starting at the same float with rows of the same size (HeadDim == ValueDim) are
    /// allowed, since each work item reads its query rows before it writes the output rows in their place.
    /// </summary>
    private static void ValidateOverlaps(scoped in AttentionArguments arguments, Int128 queryElements, Int128 outputElements, Int128 keyElements, Int128 valueElements)
    {
        ReadOnlySpan<float> output = arguments.Output[..(int)outputElements];
        ReadOnlySpan<float> query = arguments.Query[..(int)queryElements];
        if (output.Overlaps(query, out int offset) && (offset != 0 || queryElements != outputElements))
        {
            throw new ArgumentException(
                Format("output overlaps query, {0}. A kernel computes in place only when output and query start at the same element and HeadDim == ValueDim; use a separate output buffer.",
                    offset == 0 ? "starting at the same element but with rows of another size" : Format("starting {0} elements apart", Math.Abs((long)offset))),
                "output");
        }

        CheckDisjoint(output, arguments.Key[..(int)keyElements], "key");
        CheckDisjoint(output, arguments.Value[..(int)valueElements], "value");
        if (!arguments.Mask.IsDefault && !arguments.Mask.IsBoolean)
        {
            CheckDisjoint(output, arguments.Mask.AdditiveValues, "mask");
        }

        static void CheckDisjoint(ReadOnlySpan<float> output, ReadOnlySpan<float> input, string name)
        {
            if (output.Overlaps(input))
            {
                throw new ArgumentException(
                    Format("output overlaps {0}: the kernels read all of {0} while they write output, so the two must not share memory. Use a separate output buffer.", name),
                    "output");
            }
        }
    }

    private static void ValidateMask(ExplicitMask mask, int batch, int heads, int queryLength, int keyLength, string keyLengthName)
    {
        if (mask.IsDefault)
        {
            throw new ArgumentException("This kernel is declared with AttentionMask.Explicit: pass a mask made by ExplicitMask.Additive or ExplicitMask.Boolean.", "mask");
        }

        CheckAxis(mask.Batch, batch, "batch");
        CheckAxis(mask.Heads, heads, "head");
        CheckAxis(mask.QueryLength, queryLength, "query");
        if (mask.KeyLength > keyLength)
        {
            throw new ArgumentException(
                Format("The mask's key axis has {0} entries, more than {2} ({1}); it may have at most that many (missing keys are masked).", mask.KeyLength, keyLength, keyLengthName),
                "mask");
        }

        static void CheckAxis(int actual, int expected, string axis)
        {
            if (actual != 1 && actual != expected)
            {
                throw new ArgumentException(
                    Format("The mask's {0} axis has {1} entries; it must be 1 (broadcast) or {2}.", axis, actual, expected), "mask");
            }
        }
    }

    private static void CheckLength(
        int actual, string parameter, bool bshd, int batch, string sequenceName, int sequence, string headsName, int heads, string dimName, int dim)
    {
        Int128 expected = Elements(batch, sequence, heads, dim);
        if (actual < expected)
        {
            string shape = bshd
                ? Format("[batch, {0}, {1}, {2}] = [{3}, {4}, {5}, {6}]", sequenceName, headsName, dimName, batch, sequence, heads, dim)
                : Format("[batch, {1}, {0}, {2}] = [{3}, {5}, {4}, {6}]", sequenceName, headsName, dimName, batch, sequence, heads, dim);
            throw new ArgumentException(
                Format("{0} is too short: {1} needs {2} elements, but the span has {3}.", parameter, shape, expected, actual),
                parameter);
        }
    }

    /// <summary>
    /// The number of elements of a shape of non-negative sizes, exactly: four sizes below 2^31 multiply to below 2^124,
    /// which <see cref="Int128"/> holds, so no check built on this can overflow and let a too-short span through to the
    /// kernels' unchecked index math.
    /// </summary>
    internal static Int128 Elements(int a, int b, int c, int d) => (Int128)a * b * c * d;

    /// <summary>A message in the invariant culture, as every exception of the runtime words it.</summary>
    internal static string Format(string format, params object[] args) => string.Format(CultureInfo.InvariantCulture, format, args);
}
