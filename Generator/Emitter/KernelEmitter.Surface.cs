using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

internal static partial class KernelEmitter
{
    /// <summary>
    /// Writes the documented methods of the shared kernel class: <c>Configuration</c>, the <c>Forward</c> over tensors with
    /// the kernel explanation, <c>CreateCache</c>, and the <c>Forward</c> over a <c>KvCache</c>. Each declaration with this
    /// configuration forwards to them and takes their documentation (<see cref="Signature"/>).
    /// </summary>
    private static void WriteSurface(SourceWriter writer, KernelConfiguration kernel, KernelPlan plan)
    {
        bool bshd = kernel.Layout == AttentionLayout.Bshd;
        string Shape(string sequence, string heads, string dim) =>
            bshd ? $"[batch, {sequence}, {heads}, {dim}]" : $"[batch, {heads}, {sequence}, {dim}]";

        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// This kernel's configuration as a value, with defaults resolved: pass it to");
        writer.WriteLine("/// <see cref=\"global::AttentionGen.ReferenceAttention\"/> to check a result.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine("public static AttentionConfiguration Configuration { get; } = KernelConfiguration.Of<Kernel>();");
        writer.WriteLine();

        // The three Forwards over tensors: the same parameters and body, each writing one more output, or none.
        void TensorForward(string summary, string? documentation, string extra, Signature signature, string with)
        {
            writer.WriteLine($"/// <summary>Computes {Describe(kernel)}{summary}.</summary>");
            WriteTensorParameters(writer, kernel, Shape);
            if (documentation is not null)
            {
                writer.WriteLine(documentation);
            }

            writer.WriteLine(TensorExceptions(kernel, extra));
            if (extra == "output")
            {
                WriteExplanation(writer, kernel, plan);
            }

            WriteMethod(writer, signature, new[]
            {
                TensorArguments(kernel) + with + ";",
                "AttentionValidation.ValidateForward<Kernel>(in arguments);",
                "AttentionScheduler.Run<Kernel>(in arguments);",
            });
        }

        TensorForward(string.Empty, null, "output", Signature.ForwardOverTensors(kernel), string.Empty);
        writer.WriteLine();
        TensorForward(", and writes its attention weights: what a heat map shows", WeightsDocumentation, "weights", Signature.ForwardWithWeights(kernel), ".WithWeights(weights, kind)");
        writer.WriteLine();
        TensorForward(", and writes each query row's log-sum-exp", LogSumExpDocumentation, "logSumExp", Signature.ForwardWithLogSumExp(kernel), ".WithLogSumExp(logSumExp)");

        writer.WriteLine();
        writer.WriteLine(CreateCacheDocumentation);
        WriteMethod(writer, Signature.CreateCache, "new(batch, Kernel.KvHeads, Kernel.HeadDim, Kernel.ValueDim, capacity, precision)");
        if (kernel.HasWindow)
        {
            writer.WriteLine();
            writer.WriteLine(RingCacheDocumentation.Replace("{WindowLeft}", Literals.Int(kernel.WindowLeft)));
            WriteMethod(writer, Signature.CreateRingCache, "new(batch, Kernel.KvHeads, Kernel.HeadDim, Kernel.ValueDim, capacity, precision, overflow)");
        }

        writer.WriteLine();
        writer.WriteLine($"/// <summary>Computes {Describe(kernel)} for the newest tokens of each sequence in a KV cache.</summary>");
        writer.WriteLine($"/// <param name=\"query\">Queries of each entry's newest <paramref name=\"queryLength\"/> tokens, <c>{Shape("queryLength", "Heads", "HeadDim")}</c>. Append those tokens' keys and values to the cache first.</param>");
        writer.WriteLine("/// <param name=\"cache\">The keys and values of every token so far, from <see cref=\"CreateCache(int, int, global::AttentionGen.KvCachePrecision)\"/> or any cache with this type's dims.</param>");
        writer.WriteLine($"/// <param name=\"output\">Receives the result, <c>{Shape("queryLength", "Heads", "ValueDim")}</c>.</param>");
        writer.WriteLine("/// <param name=\"batch\">Batch size: the cache's <c>Batch</c>.</param>");
        writer.WriteLine(CachedQueryLengthDocumentation);
        if (kernel.HasExplicitMask)
        {
            writer.WriteLine("/// <param name=\"mask\">The explicit mask, additive or boolean, broadcast to <c>[batch, Heads, queryLength, cache.Length]</c>; its key axis counts the cached tokens oldest first.</param>");
        }

        writer.WriteLine("/// <exception cref=\"global::System.ArgumentNullException\"><paramref name=\"cache\"/> is null.</exception>");
        writer.WriteLine("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">A length is negative, or <paramref name=\"queryLength\"/> is more than an entry of the cache holds.</exception>");
        writer.WriteLine("/// <exception cref=\"global::System.ArgumentException\">The cache's dims or batch differ from this type's, a span is shorter than its shape"
            + (kernel.HasExplicitMask ? ", the mask does not broadcast to the shape" : string.Empty)
            + ", <paramref name=\"output\"/> overlaps <paramref name=\"query\"/> other than exactly (in place), or a ring cache has evicted keys the queries see. Nothing has been written.</exception>");
        writer.WriteLine(CachedForwardRemarks);
        WriteMethod(writer, Signature.ForwardOverCache(kernel), new[]
        {
            $"AttentionArguments arguments = new(query, cache, output, batch, queryLength, {(kernel.HasExplicitMask ? "mask" : "default")});",
            "AttentionValidation.ValidateCachedForward<Kernel>(in arguments);",
            "AttentionScheduler.RunCached<Kernel>(in arguments);",
        });
    }

    /// <summary>The parameter documentation every <c>Forward</c> over tensors shares.</summary>
    private static void WriteTensorParameters(SourceWriter writer, KernelConfiguration kernel, System.Func<string, string, string, string> shape)
    {
        writer.WriteLine($"/// <param name=\"query\">Queries, <c>{shape("queryLength", "Heads", "HeadDim")}</c>. A longer span is fine: only its prefix is read.</param>");
        writer.WriteLine($"/// <param name=\"key\">Keys, <c>{shape("keyLength", "KvHeads", "HeadDim")}</c>.</param>");
        writer.WriteLine($"/// <param name=\"value\">Values, <c>{shape("keyLength", "KvHeads", "ValueDim")}</c>.</param>");
        writer.WriteLine($"/// <param name=\"output\">Receives the result, <c>{shape("queryLength", "Heads", "ValueDim")}</c>.</param>");
        writer.WriteLine("/// <param name=\"batch\">Batch size.</param>");
        writer.WriteLine("/// <param name=\"queryLength\">Query rows per batch entry and head.</param>");
        writer.WriteLine("/// <param name=\"keyLength\">Key rows per batch entry and key/value head.</param>");
        if (kernel.HasKeyPadding)
        {
            writer.WriteLine("/// <param name=\"keyLengths\">Valid keys of each batch entry, each from 0 to <paramref name=\"keyLength\"/>: key <c>j</c> of entry <c>b</c> is visible only if <c>j &lt; keyLengths[b]</c>.</param>");
        }

        if (kernel.HasExplicitMask)
        {
            writer.WriteLine("/// <param name=\"mask\">The explicit mask, additive or boolean, broadcast to <c>[batch, Heads, queryLength, keyLength]</c>.</param>");
        }
    }

    /// <summary>
    /// The exceptions of a <c>Forward</c> over tensors; <paramref name="extra"/> names the span besides output that it
    /// writes, if any, which must have memory of its own.
    /// </summary>
    private static string TensorExceptions(KernelConfiguration kernel, string extra)
    {
        var causes = new System.Collections.Generic.List<string> { "A length is negative" };
        if (kernel.HasKeyPadding)
        {
            causes.Add("a <paramref name=\"keyLengths\"/> entry is outside [0, keyLength]");
        }

        if (extra == "weights")
        {
            causes.Add("<paramref name=\"kind\"/> is not an <see cref=\"global::AttentionGen.AttentionWeights\"/> value");
        }

        string outOfRange = "/// <exception cref=\"global::System.ArgumentOutOfRangeException\">"
            + (causes.Count == 1 ? causes[0] : string.Join(", ", causes.GetRange(0, causes.Count - 1)) + ", or " + causes[causes.Count - 1]) + ".</exception>";
        string own = extra == "output" ? string.Empty : $", <paramref name=\"{extra}\"/> is shorter than its shape or shares memory with another span";
        return outOfRange + "\n"
            + "/// <exception cref=\"global::System.ArgumentException\">A span is shorter than its shape" + (kernel.HasExplicitMask ? ", the mask does not broadcast to the shape" : string.Empty) + own
            + ", or <paramref name=\"output\"/> overlaps an input: only <c>output</c> and <c>query</c> that start at the same element" + (kernel.HeadDim == kernel.ValueDim ? " (in place)" : ", which needs HeadDim == ValueDim,") + " may share memory. Nothing has been written.</exception>";
    }

    /// <summary>The arguments of a <c>Forward</c> over tensors, bundled: <c>AttentionArguments arguments = new(...)</c>.</summary>
    private static string TensorArguments(KernelConfiguration kernel) =>
        $"AttentionArguments arguments = new AttentionArguments(query, key, value, output, batch, queryLength, keyLength, {(kernel.HasKeyPadding ? "keyLengths" : "default")}, {(kernel.HasExplicitMask ? "mask" : "default")})";

    private const string WeightsDocumentation = """
        /// <param name="weights">
        /// Receives <paramref name="kind"/> for every batch entry, head, query row and key, <c>[batch, Heads, queryLength, keyLength]</c>
        /// whatever the layout; keys a mask hides are −∞ as masked scores and 0 as probabilities.
        /// </param>
        /// <param name="kind">
        /// Which weights, as ONNX Attention's qk_matmul_output_mode numbers them: the scaled scores (0), after the soft cap (1),
        /// after the masks (2), or the softmax probabilities P·V uses (3).
        /// </param>
        /// <remarks>
        /// The kernel of the other Forward, which also copies each tile's scores into <paramref name="weights"/> as it goes and,
        /// once a block of rows has seen all its keys, turns them into probabilities while they are still in cache: no score
        /// is computed twice. Scores before the masks (0 and 1) are computed for every key, also those the masks hide.
        /// </remarks>
        """;

    private const string LogSumExpDocumentation = """
        /// <param name="logSumExp">
        /// Receives each query row's <c>log Σ exp(s)</c> over the keys it sees, <c>s</c> the masked scores, <c>[batch, Heads, queryLength]</c>;
        /// −∞ for a row that sees no key. Outputs computed over disjoint ranges of keys merge exactly with it: weight each by
        /// <c>exp(lse − log(Σ exp(lse)))</c> and add.
        /// </param>
        """;

    private const string CreateCacheDocumentation = """
        /// <summary>
        /// Creates an empty <see cref="global::AttentionGen.KvCache"/> for this type: KvHeads key/value heads of HeadDim and ValueDim
        /// floats, <paramref name="capacity"/> tokens per batch entry.
        /// </summary>
        /// <param name="batch">Batch entries, at least 1.</param>
        /// <param name="capacity">Tokens each batch entry can hold, at least 1; appending more throws.</param>
        /// <param name="precision">Single keeps values exactly; Half halves the memory and the bytes each decoding step reads.</param>
        /// <exception cref="global::System.ArgumentOutOfRangeException">A size is less than 1, or the cache would not fit in one array.</exception>
        """;

    private const string RingCacheDocumentation = """
        /// <summary>
        /// Creates an empty <see cref="global::AttentionGen.KvCache"/> for this type with the given overflow behaviour: with
        /// <see cref="global::AttentionGen.KvCacheOverflow.EvictOldest"/>, a ring that keeps the last <paramref name="capacity"/> tokens,
        /// which needs to be at least WindowLeft ({WindowLeft}) plus the query rows of one call.
        /// </summary>
        /// <param name="batch">Batch entries, at least 1.</param>
        /// <param name="capacity">Tokens each batch entry can hold, at least 1.</param>
        /// <param name="precision">Single keeps values exactly; Half halves the memory and the bytes each decoding step reads.</param>
        /// <param name="overflow">What an append that does not fit does.</param>
        /// <exception cref="global::System.ArgumentOutOfRangeException">A size is less than 1, or the cache would not fit in one array.</exception>
        """;

    private const string CachedQueryLengthDocumentation = """
        /// <param name="queryLength">
        /// Query rows per batch entry and head: 1 to decode a token. Row <c>i</c> of entry <c>b</c> is cache token
        /// <c>cache.GetLength(b) - queryLength + i</c>, so positional masks align bottom-right with each entry's own length.
        /// </param>
        """;

    private const string CachedForwardRemarks = """
        /// <remarks>
        /// A prefill (many query rows) over a cache of floats runs on the same row-block kernels as the other Forward, reading the
        /// cache in place. Decoding reads each (batch entry, key/value head) once for all the query rows that share it; when those
        /// pairs are too few to keep every thread busy, as for one sequence, the keys are split across threads and the partial
        /// softmax states merged exactly. A Half cache is widened to float inside the kernel.
        /// </remarks>
        """;

    /// <summary>Writes a method of the shared kernel class with a block body.</summary>
    private static void WriteMethod(SourceWriter writer, Signature signature, string[] body)
    {
        using (writer.Block(signature.Declaration))
        {
            foreach (string line in body)
            {
                writer.WriteLine(line);
            }
        }
    }

    /// <summary>Writes a method of the shared kernel class with an expression body.</summary>
    private static void WriteMethod(SourceWriter writer, Signature signature, string expression)
    {
        writer.WriteLine(signature.Declaration + " =>");
        writer.WriteLine("    " + expression + ";");
    }
}
