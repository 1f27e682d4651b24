using System.Collections.Generic;
using System.Linq;
using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

internal static partial class KernelEmitter
{
    /// <summary>
    /// Writes the nested <c>Layer</c> of a declaration with <c>[AttentionProjections]</c>: its sizes, a constructor that
    /// packs W_q, W_k, W_v and W_o, and the self- and cross-attention <c>Forward</c>s, over the runtime's
    /// <c>AttentionLayer</c> on this declaration's kernel.
    /// </summary>
    private static void WriteLayer(SourceWriter writer, KernelConfiguration kernel, ProjectionModel projections, string shared)
    {
        string heads = Literals.Int(kernel.Heads), kvHeads = Literals.Int(kernel.KvHeads);
        string headDim = Literals.Int(kernel.HeadDim), valueDim = Literals.Int(kernel.ValueDim);
        string core = $"global::AttentionGen.CompilerServices.AttentionLayer<{shared}.Kernel>";
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// A multi-head attention layer around this kernel, as d2l's <c>MultiHeadAttention</c>: queries, keys and values projected");
        writer.WriteLine("/// by W_q, W_k and W_v into the Bshd layout the kernel reads" + (projections.HasSelfAttention ? " (in one fused pass for self-attention)" : string.Empty) + ", the kernel, and W_o.");
        writer.WriteLine($"/// W_q is [{Literals.Int(projections.QuerySize)}, {heads} · {headDim}], W_k [{Literals.Int(projections.KeySize)}, {kvHeads} · {headDim}], W_v [{Literals.Int(projections.ValueSize)}, {kvHeads} · {valueDim}] and W_o [{heads} · {valueDim}, {Literals.Int(projections.OutputSize)}].");
        writer.WriteLine("/// </summary>");
        writer.WriteLine("/// <remarks>");
        writer.WriteLine("/// The weights are packed once, by the constructor. A layer keeps its projections in a workspace that it grows when a call");
        writer.WriteLine("/// needs more room, so a warm call allocates nothing; it runs one call at a time, so use one layer per thread." + (kernel.HasKeyPadding ? " With key" : string.Empty));
        if (kernel.HasKeyPadding)
        {
            writer.WriteLine("/// padding, the rows of entry <c>b</c> from <c>keyLengths[b]</c> on are padding: keys and values there are not projected and no row");
            writer.WriteLine("/// attends to them.");
        }

        writer.WriteLine("/// </remarks>");
        writer.WriteLine(GeneratedCodeAttribute);
        using (writer.Block("public sealed class Layer"))
        {
            WriteSize(writer, "QuerySize", "a query input row", projections.QuerySize);
            WriteSize(writer, "KeySize", "a key input row", projections.KeySize);
            WriteSize(writer, "ValueSize", "a value input row", projections.ValueSize);
            WriteSize(writer, "OutputSize", "an output row", projections.OutputSize);
            writer.WriteLine($"private readonly {core} _layer;");
            writer.WriteLine();

            var parameters = new List<(string Name, string Documentation)>();
            void Projection(string name, string symbol, string inputs, string outputs)
            {
                parameters.Add((name + "Weight", $"{symbol}, <c>[{inputs}, {outputs}]</c>, row-major as <c>x · W</c> reads it (an ONNX MatMul initializer; PyTorch's nn.Linear stores its transpose)."));
                if (projections.Bias)
                {
                    parameters.Add((name + "Bias", $"The bias of {symbol}, <c>{outputs}</c> floats, or empty for none."));
                }
            }

            Projection("query", "W_q", "QuerySize", $"{heads} · {headDim}");
            Projection("key", "W_k", "KeySize", $"{kvHeads} · {headDim}");
            Projection("value", "W_v", "ValueSize", $"{kvHeads} · {valueDim}");
            Projection("output", "W_o", $"{heads} · {valueDim}", "OutputSize");
            writer.WriteLine("/// <summary>Packs the four projections for the widest vector path this process runs.</summary>");
            foreach ((string name, string documentation) in parameters)
            {
                writer.WriteLine($"/// <param name=\"{name}\">{documentation}</param>");
            }

            writer.WriteLine("/// <exception cref=\"global::System.ArgumentException\">A weight or bias has the wrong length; the message names it and both lengths.</exception>");
            string Argument(string name) => projections.Bias || name.EndsWith("Weight") ? name : "default";
            string[] all = { "queryWeight", "queryBias", "keyWeight", "keyBias", "valueWeight", "valueBias", "outputWeight", "outputBias" };
            writer.WriteLine($"public Layer({string.Join(", ", parameters.Select(p => "global::System.ReadOnlySpan<float> " + p.Name))}) =>");
            writer.WriteLine($"    _layer = new {core}(QuerySize, KeySize, ValueSize, OutputSize, {string.Join(", ", all.Select(Argument))});");

            string padding = kernel.HasKeyPadding ? ", global::System.ReadOnlySpan<int> keyLengths" : string.Empty;
            string mask = kernel.HasExplicitMask ? ", global::AttentionGen.ExplicitMask mask" : string.Empty;
            string passed = (kernel.HasKeyPadding ? ", keyLengths" : ", default") + (kernel.HasExplicitMask ? ", mask" : ", default");
            if (projections.HasSelfAttention)
            {
                writer.WriteLine();
                void SelfParameters()
                {
                    writer.WriteLine("/// <param name=\"input\">The rows, <c>[batch, length, QuerySize]</c>. A longer span is fine: only its prefix is read.</param>");
                    writer.WriteLine("/// <param name=\"output\">Receives the layer's output, <c>[batch, length, OutputSize]</c>" + (kernel.HasKeyPadding ? "; rows of padding are zeros" : string.Empty) + ".</param>");
                    writer.WriteLine("/// <param name=\"batch\">Batch size.</param>");
                    writer.WriteLine("/// <param name=\"length\">Rows per batch entry.</param>");
                    WriteLayerMaskParameters(writer, kernel, "length");
                }

                void SelfExceptions()
                {
                    writer.WriteLine(LayerRangeException(kernel));
                    writer.WriteLine("/// <exception cref=\"global::System.ArgumentException\">A span is shorter than its shape, <paramref name=\"output\"/> overlaps <paramref name=\"input\"/>, or an argument does not fit the kernel. Nothing has been written.</exception>");
                    writer.WriteLine("/// <exception cref=\"global::System.InvalidOperationException\">Another thread is running a call on this layer.</exception>");
                }

                writer.WriteLine("/// <summary>Self-attention: queries, keys and values are all projections of <paramref name=\"input\"/>, in one pass.</summary>");
                SelfParameters();
                SelfExceptions();
                writer.WriteLine($"public void Forward(global::System.ReadOnlySpan<float> input, global::System.Span<float> output, int batch, int length{padding}{mask}) =>");
                writer.WriteLine($"    _layer.SelfAttention(input, output, batch, length{passed});");

                writer.WriteLine();
                writer.WriteLine("/// <summary>Self-attention, as the other overload, that also writes the kernel's attention weights: d2l's <c>attention_weights</c>, for heat maps.</summary>");
                SelfParameters();
                writer.WriteLine("/// <param name=\"weights\">Receives <paramref name=\"kind\"/> for every batch entry, head, query row and key, <c>[batch, Heads, length, length]</c>" + (kernel.HasKeyPadding ? "; the rows of padding queries are zeros" : string.Empty) + ".</param>");
                writer.WriteLine("/// <param name=\"kind\">Which weights: the scores, after the soft cap, after the masks, or the probabilities.</param>");
                SelfExceptions();
                writer.WriteLine($"public void Forward(global::System.ReadOnlySpan<float> input, global::System.Span<float> output, int batch, int length{padding}{mask}, global::System.Span<float> weights, global::AttentionGen.AttentionWeights kind) =>");
                writer.WriteLine($"    _layer.SelfAttention(input, output, batch, length{passed}, true, weights, kind);");
            }

            writer.WriteLine();
            writer.WriteLine("/// <summary>Attention of projected queries over projected keys and values: cross-attention, or self-attention with the same span passed three times.</summary>");
            writer.WriteLine("/// <param name=\"queries\">The query rows, <c>[batch, queryLength, QuerySize]</c>.</param>");
            writer.WriteLine("/// <param name=\"keys\">The key rows, <c>[batch, keyLength, KeySize]</c>.</param>");
            writer.WriteLine("/// <param name=\"values\">The value rows, <c>[batch, keyLength, ValueSize]</c>.</param>");
            writer.WriteLine("/// <param name=\"output\">Receives the layer's output, <c>[batch, queryLength, OutputSize]</c>.</param>");
            writer.WriteLine("/// <param name=\"batch\">Batch size.</param>");
            writer.WriteLine("/// <param name=\"queryLength\">Query rows per batch entry.</param>");
            writer.WriteLine("/// <param name=\"keyLength\">Key and value rows per batch entry.</param>");
            WriteLayerMaskParameters(writer, kernel, "keyLength");
            writer.WriteLine(LayerRangeException(kernel));
            writer.WriteLine("/// <exception cref=\"global::System.ArgumentException\">A span is shorter than its shape, <paramref name=\"output\"/> overlaps an input, or an argument does not fit the kernel. Nothing has been written.</exception>");
            writer.WriteLine("/// <exception cref=\"global::System.InvalidOperationException\">Another thread is running a call on this layer.</exception>");
            writer.WriteLine($"public void Forward(global::System.ReadOnlySpan<float> queries, global::System.ReadOnlySpan<float> keys, global::System.ReadOnlySpan<float> values, global::System.Span<float> output, int batch, int queryLength, int keyLength{padding}{mask}) =>");
            writer.WriteLine($"    _layer.CrossAttention(queries, keys, values, output, batch, queryLength, keyLength{passed});");
        }
    }

    private static string LayerRangeException(KernelConfiguration kernel) =>
        "/// <exception cref=\"global::System.ArgumentOutOfRangeException\">A length is negative"
        + (kernel.HasKeyPadding ? ", or a <paramref name=\"keyLengths\"/> entry is outside its range" : string.Empty) + ".</exception>";

    private static void WriteSize(SourceWriter writer, string name, string what, int size)
    {
        writer.WriteLine($"/// <summary>Size of {what}.</summary>");
        writer.WriteLine($"public const int {name} = {Literals.Int(size)};");
        writer.WriteLine();
    }

    private static void WriteLayerMaskParameters(SourceWriter writer, KernelConfiguration kernel, string length)
    {
        if (kernel.HasKeyPadding)
        {
            writer.WriteLine($"/// <param name=\"keyLengths\">Valid rows of each batch entry's keys, each from 0 to <paramref name=\"{length}\"/>: d2l's <c>valid_lens</c>.</param>");
        }

        if (kernel.HasExplicitMask)
        {
            writer.WriteLine("/// <param name=\"mask\">The explicit mask, additive or boolean, as the kernel's <c>Forward</c> takes it.</param>");
        }
    }
}
