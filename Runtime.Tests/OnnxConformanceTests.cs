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
/// Each case becomes an <c>[Attention]</c> declaration, generated and compiled in memory, and its output Y must
/// match ONNX's within 1e-5. Cases that need a KV cache or half precision belong to later work and are listed
/// as skipped; a case with a qk_matmul_output output is checked on Y only (attention-weight output is later work).
/// </summary>
public sealed class OnnxConformanceTests : IClassFixture<OnnxConformanceTests.Kernels>
{
    private const double Tolerance = 1e-5;
    private readonly Kernels _kernels;

    public OnnxConformanceTests(Kernels kernels) => _kernels = kernels;

    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "TestData", "onnx-attention");

    public static IEnumerable<object[]> SupportedCases() => OnnxCase.All.Where(c => c.SkipReason is null).Select(c => new object[] { c.Name });

    public static IEnumerable<object[]> CasesWithPastKeyValue() => OnnxCase.All.Where(c => c.SkipReason == OnnxCase.NeedsCache).Select(c => new object[] { c.Name });

    public static IEnumerable<object[]> Float16Cases() => OnnxCase.All.Where(c => c.SkipReason == OnnxCase.NeedsHalf).Select(c => new object[] { c.Name });

    [Theory]
    [MemberData(nameof(SupportedCases))]
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
    [MemberData(nameof(SupportedCases))]
    public void Reference_matches_ONNX(string name)
    {
        OnnxCase onnx = OnnxCase.All.Single(c => c.Name == name);
        var output = new float[onnx.Expected.Length];
        ReferenceAttention.Forward(onnx.Configuration, onnx.Query, onnx.Key, onnx.Value, output, onnx.Batch, onnx.QueryLength, onnx.KeyLength, onnx.KeyLengths, onnx.CreateMask());
        Tensors.AssertClose(onnx.Expected, output, Tolerance, 0, name + " (reference)");
    }

    [Theory(Skip = "Needs past_key/past_value, i.e. a KV cache: the KvCache issue (issue 4) adds these cases.")]
    [MemberData(nameof(CasesWithPastKeyValue))]
    public void Case_with_past_key_value_matches_ONNX(string name) => Assert.Fail(name + " has no runner yet.");

    [Theory(Skip = "Needs float16 tensors: the half-precision issue (issue 4) adds these cases.")]
    [MemberData(nameof(Float16Cases))]
    public void Float16_case_matches_ONNX(string name) => Assert.Fail(name + " has no runner yet.");

    [Fact]
    public void Every_case_of_the_suite_is_run_or_listed_as_skipped()
    {
        using JsonDocument index = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "index.json")));
        string[] indexed = index.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("name").GetString()!).Order().ToArray();
        Assert.Equal(76, indexed.Length);
        Assert.Equal(indexed, OnnxCase.All.Select(c => c.Name).Order().ToArray());
        Assert.True(OnnxCase.All.Count(c => c.SkipReason is null) >= 40, "Most cases run.");
    }

    /// <summary>Compiles one kernel per distinct configuration among the cases, once for the class.</summary>
    public sealed class Kernels
    {
        private readonly Dictionary<string, KernelUnderTest> _byDeclaration = new();

        public Kernels()
        {
            var declarations = OnnxCase.All
                .Where(c => c.SkipReason is null)
                .Select(c => InMemoryKernels.AttributeArguments(c.Configuration))
                .Distinct()
                .Select((arguments, i) => (Arguments: arguments, Name: "OnnxCase" + i))
                .ToList();
            var configurations = OnnxCase.All.Where(c => c.SkipReason is null)
                .GroupBy(c => InMemoryKernels.AttributeArguments(c.Configuration))
                .ToDictionary(g => g.Key, g => g.First().Configuration);
            IReadOnlyList<KernelUnderTest> kernels = InMemoryKernels.Build(declarations.Select(d => (d.Name, configurations[d.Arguments])).ToList());
            for (int i = 0; i < declarations.Count; i++)
            {
                _byDeclaration[declarations[i].Arguments] = kernels[i];
            }
        }

        public KernelUnderTest For(OnnxCase onnx) => _byDeclaration[InMemoryKernels.AttributeArguments(onnx.Configuration)];
    }
}

/// <summary>One converted ONNX case: its configuration, inputs and expected output (see TestData/onnx-attention/README.md).</summary>
public sealed class OnnxCase
{
    public const string NeedsCache = "past_key/past_value";
    public const string NeedsHalf = "float16";

    private static readonly Lazy<IReadOnlyList<OnnxCase>> s_all = new(() =>
        Directory.GetDirectories(OnnxConformanceTests.Root).Order(StringComparer.Ordinal).Select(Load).ToList());

    public static IReadOnlyList<OnnxCase> All => s_all.Value;

    public required string Name { get; init; }
    public string? SkipReason { get; init; }
    public required AttentionConfiguration Configuration { get; init; }
    public int Batch { get; init; }
    public int QueryLength { get; init; }
    public int KeyLength { get; init; }
    public float[] Query { get; init; } = Array.Empty<float>();
    public float[] Key { get; init; } = Array.Empty<float>();
    public float[] Value { get; init; } = Array.Empty<float>();
    public float[] Expected { get; init; } = Array.Empty<float>();
    public int[] KeyLengths { get; init; } = Array.Empty<int>();
    public bool MaskIsBoolean { get; init; }
    public bool[] MaskAllowed { get; init; } = Array.Empty<bool>();
    public float[] MaskAdditive { get; init; } = Array.Empty<float>();

    /// <summary>The mask's shape right-aligned to [batch, heads, queryLength, keyLength], as ONNX broadcasts it.</summary>
    public int[] MaskShape { get; init; } = Array.Empty<int>();

    public override string ToString() => Name;

    /// <summary>The case's attn_mask as an <see cref="ExplicitMask"/>, or default when it has none.</summary>
    public ExplicitMask CreateMask() =>
        MaskShape.Length == 0 ? default
        : MaskIsBoolean ? ExplicitMask.Boolean(MaskAllowed, MaskShape[0], MaskShape[1], MaskShape[2], MaskShape[3])
        : ExplicitMask.Additive(MaskAdditive, MaskShape[0], MaskShape[1], MaskShape[2], MaskShape[3]);

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

        string? skip = Input("past_key") is not null ? NeedsCache
            : inputs.Any(i => i.GetProperty("onnx_dtype").GetString() == "FLOAT16") ? NeedsHalf
            : null;
        if (skip is not null)
        {
            return new OnnxCase { Name = name, SkipReason = skip, Configuration = configuration };
        }

        float[] Floats(JsonElement tensor) => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(directory, tensor.GetProperty("file").GetString()!))).ToArray();
        JsonElement y = root.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("role").GetString() == "Y");

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
        };
    }
}
