using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.Json;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// The ONNX Attention backend test cases (opsets 23 and 24, converted to flat files in TestData/onnx-attention).
/// Each case becomes an <c>[Attention]</c> declaration, generated and compiled in memory, and its output Y must match
/// ONNX's within 1e-5 (4e-3 for float16). Cases without a cache run through <c>Forward(query, key, value, ...)</c>.
/// Cases with past_key/past_value, with nonpad_kv_seqlen, or in float16 run through a <see cref="KvCache"/> as a decoder
/// would: the past and then the new keys and values are appended (present = past ⧺ new is what the cache then holds,
/// checked too), only the valid tokens of each entry when nonpad_kv_seqlen is given, in a Half cache for float16
/// cases. A case with a qk_matmul_output output has its weights checked too, from ReferenceAttention and from the generated kernel's weights overload.
/// </summary>
public sealed class OnnxConformanceTests : IClassFixture<OnnxConformanceTests.Kernels>
{
    private const double Tolerance = 1e-5;

    /// <summary>For float16 cases: ONNX rounds Y (and a float16 mask) to half precision.</summary>
    private const double Float16Tolerance = 4e-3;

    private readonly Kernels _kernels;

    public OnnxConformanceTests(Kernels kernels) => _kernels = kernels;

    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "TestData", "onnx-attention");

    public static IEnumerable<object[]> DenseCases() => OnnxCase.All.Where(c => !c.NeedsCache).Select(c => new object[] { c.Name });

    public static IEnumerable<object[]> CacheCases() => OnnxCase.All.Where(c => c.NeedsCache || c.KeyLengths.Length > 0).Select(c => new object[] { c.Name });

    [Theory]
    [MemberData(nameof(DenseCases))]
    public void Case_matches_ONNX(string name)
    {
        OnnxCase onnx = OnnxCase.All.Single(c => c.Name == name);
        KernelUnderTest kernel = _kernels.For(onnx);
        var output = new float[onnx.Expected.Length];
        output.AsSpan().Fill(float.NaN);
        kernel.Forward(onnx.Query, onnx.Key, onnx.Value, output, onnx.Batch, onnx.QueryLength, onnx.KeyLength, onnx.KeyLengths, onnx.CreateMask());
        Tensors.AssertClose(onnx.Expected, output, Tolerance, 0, $"{name} ({InMemoryKernels.AttributeArguments(onnx.Configuration)})");
    }

    [Theory]
    [MemberData(nameof(DenseCases))]
    public void Reference_matches_ONNX(string name)
    {
        OnnxCase onnx = OnnxCase.All.Single(c => c.Name == name);
        var output = new float[onnx.Expected.Length];
        ReferenceAttention.Forward(onnx.Configuration, onnx.Query, onnx.Key, onnx.Value, output, onnx.Batch, onnx.QueryLength, onnx.KeyLength, onnx.KeyLengths, onnx.CreateMask());
        Tensors.AssertClose(onnx.Expected, output, Tolerance, 0, name + " (reference)");
    }

    [Theory]
    [MemberData(nameof(CacheCases))]
    public void Case_matches_ONNX_through_a_KV_cache(string name)
    {
        OnnxCase onnx = OnnxCase.All.Single(c => c.Name == name);
        KernelUnderTest kernel = _kernels.For(onnx);
        onnx.AssertCacheHoldsPresent(onnx.FillCache(onnx.KeyLength));
        KvCache cache = onnx.FillCache(onnx.DecodedKeyLength);
        var output = new float[onnx.Expected.Length];
        output.AsSpan().Fill(float.NaN);
        if (HoldsFewerTokensThanQueries(onnx, cache))
        {
            // ONNX gives zeros for query rows before an entry's first valid key, which Case_matches_ONNX checks on the
            // tensor Forward (key padding). A cache's queries are its newest tokens, so there such a call is an error.
            Assert.Throws<ArgumentOutOfRangeException>(() => kernel.ForwardCached(onnx.Query, cache, output, onnx.Batch, onnx.QueryLength, onnx.CreateMask(cache.Length)));
            Assert.All(output, v => Assert.True(float.IsNaN(v)));
            return;
        }

        kernel.ForwardCached(onnx.Query, cache, output, onnx.Batch, onnx.QueryLength, onnx.CreateMask(cache.Length));
        Tensors.AssertClose(onnx.Expected, output, onnx.IsFloat16 ? Float16Tolerance : Tolerance, 0, $"{name} through a {cache.Precision} cache");
    }

    [Theory]
    [MemberData(nameof(CacheCases))]
    public void Reference_matches_ONNX_through_a_KV_cache(string name)
    {
        OnnxCase onnx = OnnxCase.All.Single(c => c.Name == name);
        var output = new float[onnx.Expected.Length];
        KvCache cache = onnx.FillCache(onnx.DecodedKeyLength);
        if (HoldsFewerTokensThanQueries(onnx, cache))
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => ReferenceAttention.Forward(onnx.Configuration, onnx.Query, cache, output, onnx.Batch, onnx.QueryLength, onnx.CreateMask(cache.Length)));
            return;
        }

        ReferenceAttention.Forward(onnx.Configuration, onnx.Query, cache, output, onnx.Batch, onnx.QueryLength, onnx.CreateMask(cache.Length));
        Tensors.AssertClose(onnx.Expected, output, onnx.IsFloat16 ? Float16Tolerance : Tolerance, 0, name + " (reference, through a cache)");
    }

    public static IEnumerable<object[]> WeightCases() => OnnxCase.All.Where(c => c.ExpectedWeights.Length > 0).Select(c => new object[] { c.Name });

    [Theory]
    [MemberData(nameof(WeightCases))]
    public void Reference_weights_match_ONNX(string name)
    {
        OnnxCase onnx = OnnxCase.All.Single(c => c.Name == name);
        AssertWeightsMatch(onnx, "reference", (c, key, value, output, used, weights, logSumExp) =>
            ReferenceAttention.Forward(c, onnx.Query, key, value, output, onnx.Batch, onnx.QueryLength, used, weights, onnx.WeightsKind, logSumExp, onnx.KeyLengths, onnx.CreateMask(used)));
    }

    [Theory]
    [MemberData(nameof(WeightCases))]
    public void Kernel_weights_match_ONNX(string name)
    {
        OnnxCase onnx = OnnxCase.All.Single(c => c.Name == name);
        AssertWeightsMatch(onnx, "kernel", (c, key, value, output, used, weights, logSumExp) =>
        {
            KernelUnderTest kernel = _kernels.For(c);
            kernel.ForwardWeights!(onnx.Query, key, value, output, onnx.Batch, onnx.QueryLength, used, onnx.KeyLengths, onnx.CreateMask(used), weights, onnx.WeightsKind);
            var outputAgain = new float[output.Length];
            kernel.ForwardLogSumExp!(onnx.Query, key, value, outputAgain, onnx.Batch, onnx.QueryLength, used, onnx.KeyLengths, onnx.CreateMask(used), logSumExp);
            Assert.Equal(output, outputAgain);
        });
    }

    /// <summary>
    /// The configuration a weights case runs with: with a past, the keys are present_key/present_value, and a causal case
    /// keeps only the P + Sq keys up to the last query (ONNX places query i at P + i; the rest are hidden from every
    /// row), aligned bottom-right so that the offset is P.
    /// </summary>
    internal static AttentionConfiguration WeightsConfiguration(OnnxCase onnx)
    {
        AttentionConfiguration c = onnx.Configuration;
        return onnx.PastLength > 0 && (c.Mask & AttentionMask.Causal) != 0
            ? new AttentionConfiguration
            {
                Heads = c.Heads, KvHeads = c.KvHeads, HeadDim = c.HeadDim, ValueDim = c.ValueDim, Mask = c.Mask, Alignment = MaskAlignment.BottomRight,
                Scale = c.Scale, Softcap = c.Softcap, Layout = c.Layout,
            }
            : c;
    }

    private delegate void WeightsCall(AttentionConfiguration configuration, float[] key, float[] value, float[] output, int used, float[] weights, float[] logSumExp);

    /// <summary>qk_matmul_output over all P + Skv keys, and Y, from <paramref name="call"/>, against ONNX's.</summary>
    private static void AssertWeightsMatch(OnnxCase onnx, string who, WeightsCall call)
    {
        AttentionConfiguration c = WeightsConfiguration(onnx);
        int total = onnx.PastLength + onnx.KeyLength, used = onnx.PastLength > 0 ? onnx.PastLength + onnx.DecodedKeyLength : total;
        float[] key = onnx.Key, value = onnx.Value;
        if (onnx.PastLength > 0)
        {
            key = Sequences.Tokens(onnx.PresentKey, AttentionLayout.Bhsd, c.Layout, onnx.Batch, total, c.KvHeads, c.HeadDim, 0, used);
            value = Sequences.Tokens(onnx.PresentValue, AttentionLayout.Bhsd, c.Layout, onnx.Batch, total, c.KvHeads, c.ValueDim, 0, used);
        }

        var output = new float[onnx.Expected.Length];
        var weights = new float[onnx.Batch * c.Heads * onnx.QueryLength * used];
        var logSumExp = new float[onnx.Batch * c.Heads * onnx.QueryLength];
        call(c, key, value, output, used, weights, logSumExp);
        double tolerance = onnx.IsFloat16 ? Float16Tolerance : Tolerance;
        Tensors.AssertClose(onnx.Expected, output, tolerance, 0, $"{onnx.Name} Y ({who} with weights)");

        for (int row = 0; row < weights.Length / used; row++)
        {
            for (int j = 0; j < total; j++)
            {
                float expected = onnx.ExpectedWeights[row * total + j];
                float actual = j < used ? weights[row * used + j] : onnx.WeightsKind switch
                {
                    AttentionWeights.MaskedScores => float.NegativeInfinity, // hidden from every row, as ONNX has it
                    AttentionWeights.Probabilities => 0f,
                    _ => expected, // raw scores of keys past the last query: not computed here
                };
                bool ok = float.IsNegativeInfinity(expected) ? float.IsNegativeInfinity(actual) : Math.Abs(actual - expected) <= tolerance * Math.Max(1, Math.Abs(expected));
                Assert.True(ok, $"{onnx.Name} ({who}): {onnx.WeightsKind} of row {row}, key {j} is {actual}, ONNX has {expected}.");
            }
        }
    }

    /// <summary>Whether some entry of <paramref name="cache"/> holds fewer tokens than the case has query rows (nonpad_kv_seqlen below Sq).</summary>
    private static bool HoldsFewerTokensThanQueries(OnnxCase onnx, KvCache cache) =>
        Enumerable.Range(0, cache.Batch).Any(b => cache.GetLength(b) < onnx.QueryLength);

    [Fact]
    public void Every_case_of_the_suite_runs()
    {
        using JsonDocument index = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "index.json")));
        string[] indexed = index.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("name").GetString()!).Order().ToArray();
        Assert.Equal(76, indexed.Length);
        string[] run = DenseCases().Concat(CacheCases()).Select(c => (string)c[0]).Distinct().Order().ToArray();
        Assert.Equal(indexed, run);
        Assert.Equal(23, OnnxCase.All.Count(c => c.NeedsCache));
        Assert.Equal(6, OnnxCase.All.Count(c => c.KeyLengths.Length > 0 && !c.NeedsCache));
    }

    /// <summary>Compiles one kernel per distinct configuration among the cases, once for the class.</summary>
    public sealed class Kernels
    {
        private readonly Dictionary<string, KernelUnderTest> _byDeclaration = new();

        public Kernels()
        {
            // Each case's configuration, and the one its weights run with (WeightsConfiguration).
            AttentionConfiguration[] all = OnnxCase.All.Select(c => c.Configuration)
                .Concat(OnnxCase.All.Where(c => c.ExpectedWeights.Length > 0).Select(WeightsConfiguration))
                .ToArray();
            var declarations = all
                .Select(InMemoryKernels.AttributeArguments)
                .Distinct()
                .Select((arguments, i) => (Arguments: arguments, Name: "OnnxCase" + i))
                .ToList();
            var configurations = all
                .GroupBy(InMemoryKernels.AttributeArguments)
                .ToDictionary(g => g.Key, g => g.First());
            IReadOnlyList<KernelUnderTest> kernels = InMemoryKernels.Build(declarations.Select(d => (d.Name, configurations[d.Arguments])).ToList());
            for (int i = 0; i < declarations.Count; i++)
            {
                _byDeclaration[declarations[i].Arguments] = kernels[i];
            }
        }

        public KernelUnderTest For(OnnxCase onnx) => For(onnx.Configuration);

        public KernelUnderTest For(AttentionConfiguration configuration) => _byDeclaration[InMemoryKernels.AttributeArguments(configuration)];
    }
}

/// <summary>One converted ONNX case: its configuration, inputs and expected output (see TestData/onnx-attention/README.md).</summary>
public sealed class OnnxCase
{
    private static readonly Lazy<IReadOnlyList<OnnxCase>> s_all = new(() =>
        Directory.GetDirectories(OnnxConformanceTests.Root).Order(StringComparer.Ordinal).Select(Load).ToList());

    public static IReadOnlyList<OnnxCase> All => s_all.Value;

    public required string Name { get; init; }
    public required AttentionConfiguration Configuration { get; init; }

    /// <summary>Whether the case has past_key/past_value, or float16 tensors: both need a <see cref="KvCache"/>.</summary>
    public bool NeedsCache => PastLength > 0 || IsFloat16;

    /// <summary>Whether the case's tensors are float16 (the files hold them widened to float32, exactly).</summary>
    public bool IsFloat16 { get; init; }

    /// <summary>Tokens in past_key/past_value; 0 without them.</summary>
    public int PastLength { get; init; }

    /// <summary>past_key and past_value, <c>(B, Hkv, P, D)</c>.</summary>
    public float[] PastKey { get; init; } = Array.Empty<float>();
    public float[] PastValue { get; init; } = Array.Empty<float>();

    /// <summary>present_key and present_value, <c>(B, Hkv, P + Skv, D)</c>; empty when the case does not output them.</summary>
    public float[] PresentKey { get; init; } = Array.Empty<float>();
    public float[] PresentValue { get; init; } = Array.Empty<float>();
    public int Batch { get; init; }
    public int QueryLength { get; init; }
    public int KeyLength { get; init; }
    public float[] Query { get; init; } = Array.Empty<float>();
    public float[] Key { get; init; } = Array.Empty<float>();
    public float[] Value { get; init; } = Array.Empty<float>();
    public float[] Expected { get; init; } = Array.Empty<float>();

    /// <summary>qk_matmul_output, <c>(B, Hq, Sq, P + Skv)</c>, and what it holds; empty when the case does not output it.</summary>
    public float[] ExpectedWeights { get; init; } = Array.Empty<float>();
    public AttentionWeights WeightsKind { get; init; }
    public int[] KeyLengths { get; init; } = Array.Empty<int>();
    public bool MaskIsBoolean { get; init; }
    public bool[] MaskAllowed { get; init; } = Array.Empty<bool>();
    public float[] MaskAdditive { get; init; } = Array.Empty<float>();

    /// <summary>The mask's shape right-aligned to [batch, heads, queryLength, keyLength], as ONNX broadcasts it.</summary>
    public int[] MaskShape { get; init; } = Array.Empty<int>();

    public override string ToString() => Name;

    /// <summary>
    /// The new tokens a decoder has appended when it computes this case's queries. A cache's queries are its newest
    /// tokens, while ONNX places query row i at past + i (its causal offset is the past length). The two agree when the
    /// new block has as many tokens as Q; when it has more, as in the causal past cases with Sq = 4 and Skv = 6, the
    /// extra tokens come after every query row, which the causal mask hides from all of them: a decoder has not appended
    /// them yet.
    /// </summary>
    public int DecodedKeyLength => PastLength > 0 && (Configuration.Mask & AttentionMask.Causal) != 0 ? Math.Min(KeyLength, QueryLength) : KeyLength;

    /// <summary>
    /// A cache holding what this case attends to: past_key/past_value, then the first <paramref name="newTokens"/> of
    /// K/V, appended as a decoder would, and no more than nonpad_kv_seqlen[b] tokens of entry b when that input is given.
    /// Half for float16 cases.
    /// </summary>
    public KvCache FillCache(int newTokens)
    {
        AttentionConfiguration c = Configuration;
        var cache = new KvCache(Batch, c.KvHeads, c.HeadDim, c.ValueDim, PastLength + KeyLength, IsFloat16 ? KvCachePrecision.Half : KvCachePrecision.Single);
        if (PastLength > 0)
        {
            // past_* is always 4D, (B, Hkv, P, D).
            cache.Append(
                Sequences.Tokens(PastKey, AttentionLayout.Bhsd, AttentionLayout.Bshd, Batch, PastLength, c.KvHeads, c.HeadDim, 0, PastLength),
                Sequences.Tokens(PastValue, AttentionLayout.Bhsd, AttentionLayout.Bshd, Batch, PastLength, c.KvHeads, c.ValueDim, 0, PastLength),
                PastLength);
        }

        float[] keys = Sequences.Tokens(Key, c.Layout, AttentionLayout.Bshd, Batch, KeyLength, c.KvHeads, c.HeadDim, 0, newTokens);
        float[] values = Sequences.Tokens(Value, c.Layout, AttentionLayout.Bshd, Batch, KeyLength, c.KvHeads, c.ValueDim, 0, newTokens);
        if (KeyLengths.Length == 0)
        {
            cache.Append(keys, values, newTokens);
        }
        else
        {
            for (int b = 0; b < Batch; b++)
            {
                cache.Append(b, keys.AsSpan(b * newTokens * c.KvHeads * c.HeadDim), values.AsSpan(b * newTokens * c.KvHeads * c.ValueDim), Math.Min(newTokens, KeyLengths[b]));
            }
        }

        return cache;
    }

    /// <summary>Checks that the cache holds present_key and present_value, when the case outputs them.</summary>
    public void AssertCacheHoldsPresent(KvCache cache)
    {
        if (PresentKey.Length == 0)
        {
            return;
        }

        AttentionConfiguration c = Configuration;
        int total = PastLength + KeyLength;
        var keys = new float[Batch * c.KvHeads * total * c.HeadDim];
        var values = new float[Batch * c.KvHeads * total * c.ValueDim];
        for (int b = 0; b < Batch; b++)
        {
            Assert.Equal(total, cache.GetLength(b));
            cache.CopyKeys(b, keys.AsSpan(b * c.KvHeads * total * c.HeadDim));
            cache.CopyValues(b, values.AsSpan(b * c.KvHeads * total * c.ValueDim));
        }

        // Float16 inputs are halves already, so even a Half cache holds them exactly.
        Assert.Equal(PresentKey, keys);
        Assert.Equal(PresentValue, values);
    }

    /// <summary>The case's attn_mask as an <see cref="ExplicitMask"/>, or default when it has none.</summary>
    public ExplicitMask CreateMask() =>
        MaskShape.Length == 0 ? default
        : MaskIsBoolean ? ExplicitMask.Boolean(MaskAllowed, MaskShape[0], MaskShape[1], MaskShape[2], MaskShape[3])
        : ExplicitMask.Additive(MaskAdditive, MaskShape[0], MaskShape[1], MaskShape[2], MaskShape[3]);

    /// <summary>
    /// The attn_mask with its key axis cut to the first <paramref name="keys"/> columns: those of the tokens a cache
    /// holds. The columns dropped are of tokens every row has masked anyway (past nonpad_kv_seqlen, or after the causal
    /// diagonal; see <see cref="DecodedKeyLength"/>).
    /// </summary>
    public ExplicitMask CreateMask(int keys)
    {
        if (MaskShape.Length == 0 || MaskShape[3] <= keys)
        {
            return CreateMask();
        }

        int rows = MaskShape[0] * MaskShape[1] * MaskShape[2], columns = MaskShape[3];
        return MaskIsBoolean
            ? ExplicitMask.Boolean(Enumerable.Range(0, rows).SelectMany(r => MaskAllowed.Skip(r * columns).Take(keys)).ToArray(), MaskShape[0], MaskShape[1], MaskShape[2], keys)
            : ExplicitMask.Additive(Enumerable.Range(0, rows).SelectMany(r => MaskAdditive.Skip(r * columns).Take(keys)).ToArray(), MaskShape[0], MaskShape[1], MaskShape[2], keys);
    }

    private static OnnxCase Load(string directory)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "case.json")));
        JsonElement root = document.RootElement;
        JsonElement derived = root.GetProperty("derived");
        JsonElement[] inputs = root.GetProperty("inputs").EnumerateArray().ToArray();
        JsonElement? Input(string role) => inputs.Where(i => i.GetProperty("role").GetString() == role).Select(i => (JsonElement?)i).FirstOrDefault();

        string name = root.GetProperty("name").GetString()!;
        bool causal = derived.GetProperty("is_causal").GetInt32() != 0;
        JsonElement? nonpad = Input("nonpad_kv_seqlen");
        JsonElement? mask = Input("attn_mask");
        var configuration = new AttentionConfiguration
        {
            Heads = derived.GetProperty("q_num_heads").GetInt32(),
            KvHeads = derived.GetProperty("kv_num_heads").GetInt32(),
            HeadDim = derived.GetProperty("head_size").GetInt32(),
            ValueDim = derived.GetProperty("v_head_size").GetInt32(),
            Mask = (causal ? AttentionMask.Causal : 0) | (nonpad is null ? 0 : AttentionMask.KeyPadding) | (mask is null ? 0 : AttentionMask.Explicit),
            // Without a cache ONNX aligns the causal mask top-left; with nonpad_kv_seqlen its offset is
            // nonpad - queryLength, which is bottom-right relative to each batch entry's valid keys.
            Alignment = !causal ? MaskAlignment.Unspecified : nonpad is null ? MaskAlignment.TopLeft : MaskAlignment.BottomRight,
            Scale = derived.GetProperty("scale_is_default").GetBoolean() ? 0f : (float)derived.GetProperty("scale").GetDouble(),
            Softcap = (float)derived.GetProperty("softcap").GetDouble(),
            Layout = derived.GetProperty("input_rank").GetInt32() == 3 ? AttentionLayout.Bshd : AttentionLayout.Bhsd,
        };

        float[] Floats(JsonElement tensor) => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(directory, tensor.GetProperty("file").GetString()!))).ToArray();
        JsonElement[] outputs = root.GetProperty("outputs").EnumerateArray().ToArray();
        JsonElement y = outputs.Single(o => o.GetProperty("role").GetString() == "Y");
        JsonElement? Output(string role) => outputs.Where(o => o.GetProperty("role").GetString() == role).Select(o => (JsonElement?)o).FirstOrDefault();
        JsonElement? pastKey = Input("past_key"), pastValue = Input("past_value");
        JsonElement? presentKey = Output("present_key"), presentValue = Output("present_value");

        int[] maskShape = Array.Empty<int>();
        bool maskIsBoolean = false;
        bool[] allowed = Array.Empty<bool>();
        float[] additive = Array.Empty<float>();
        if (mask is { } m)
        {
            int[] shape = m.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
            maskShape = Enumerable.Repeat(1, 4 - shape.Length).Concat(shape).ToArray();
            maskIsBoolean = m.GetProperty("onnx_dtype").GetString() == "BOOL";
            if (maskIsBoolean)
            {
                allowed = File.ReadAllBytes(Path.Combine(directory, m.GetProperty("file").GetString()!)).Select(b => b != 0).ToArray();
            }
            else
            {
                additive = Floats(m);
            }
        }

        return new OnnxCase
        {
            Name = name,
            Configuration = configuration,
            Batch = derived.GetProperty("batch").GetInt32(),
            QueryLength = derived.GetProperty("q_seq_len").GetInt32(),
            KeyLength = derived.GetProperty("kv_seq_len").GetInt32(),
            Query = Floats(Input("Q")!.Value),
            Key = Floats(Input("K")!.Value),
            Value = Floats(Input("V")!.Value),
            Expected = Floats(y),
            KeyLengths = nonpad is { } n
                ? MemoryMarshal.Cast<byte, long>(File.ReadAllBytes(Path.Combine(directory, n.GetProperty("file").GetString()!))).ToArray().Select(v => checked((int)v)).ToArray()
                : Array.Empty<int>(),
            MaskIsBoolean = maskIsBoolean,
            MaskAllowed = allowed,
            MaskAdditive = additive,
            MaskShape = maskShape,
            IsFloat16 = inputs.Any(i => i.GetProperty("onnx_dtype").GetString() == "FLOAT16"),
            PastLength = derived.GetProperty("past_seq_len").GetInt32(),
            PastKey = pastKey is { } pk ? Floats(pk) : Array.Empty<float>(),
            PastValue = pastValue is { } pv ? Floats(pv) : Array.Empty<float>(),
            PresentKey = presentKey is { } rk ? Floats(rk) : Array.Empty<float>(),
            PresentValue = presentValue is { } rv ? Floats(rv) : Array.Empty<float>(),
            ExpectedWeights = Output("qk_matmul_output") is { } qk ? Floats(qk) : Array.Empty<float>(),
            WeightsKind = (AttentionWeights)derived.GetProperty("qk_matmul_output_mode").GetInt32(),
        };
    }
}
