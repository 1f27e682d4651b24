using System.Linq;
using AttentionGen.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace AttentionGen.Generator.Tests;

/// <summary>
/// Incrementality: an edit that does not touch an [Attention] declaration leaves the model and the emitted source
/// cached (what keeps the IDE responsive); a change to the attribute regenerates.
/// </summary>
public sealed class IncrementalTests
{
    private const string Kernel = """
        using AttentionGen;
        namespace Demo;
        [Attention(Heads = 4, HeadDim = 64, Mask = AttentionMask.Causal, Alignment = MaskAlignment.TopLeft)]
        public static partial class Attention;
        """;

    private const string Other = "namespace Demo; public static class Other { public static int Value => 1; }";

    [Fact]
    public void An_unrelated_edit_leaves_everything_cached()
    {
        (GeneratorDriver driver, Compilation compilation) = Start(Kernel, Other);
        Compilation edited = Replace(compilation, 1, "namespace Demo; public static class Other { public static int Value => 2; }");
        GeneratorRunResult result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        AssertReasons(result, AttentionGenerator.StepNames.Model, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        AssertReasons(result, AttentionGenerator.StepNames.Emit, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        AssertReasons(result, AttentionGenerator.StepNames.EmitKernel, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        Assert.All(result.TrackedOutputSteps.SelectMany(step => step.Value).SelectMany(run => run.Outputs),
            output => Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
    }

    [Fact]
    public void An_edit_beside_the_attribute_reparses_but_emits_nothing_new()
    {
        // Adding a member to the same partial class re-runs the parser, whose model compares equal: nothing is emitted again.
        (GeneratorDriver driver, Compilation compilation) = Start(Kernel, Other);
        Compilation edited = Replace(compilation, 0, Kernel.Replace("public static partial class Attention;", "public static partial class Attention { public static int Extra => 3; }"));
        GeneratorRunResult result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        AssertReasons(result, AttentionGenerator.StepNames.Parse, IncrementalStepRunReason.Unchanged); // ran again, same result
        AssertReasons(result, AttentionGenerator.StepNames.Model, IncrementalStepRunReason.Unchanged, IncrementalStepRunReason.Cached);
        AssertReasons(result, AttentionGenerator.StepNames.Emit, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        AssertReasons(result, AttentionGenerator.StepNames.EmitKernel, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
    }

    [Fact]
    public void A_second_declaration_with_the_same_configuration_shares_the_kernel()
    {
        // The new declaration gets its own members; the shared kernel class is neither emitted again nor duplicated.
        (GeneratorDriver driver, Compilation compilation) = Start(Kernel, Other);
        Compilation edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText(
            Kernel.Replace("class Attention;", "class Twin;"), TestCompilation.ParseOptions(), path: "Twin.cs", cancellationToken: TestContext.Current.CancellationToken));
        GeneratorRunResult result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        Assert.Equal(new[] { "Demo.Attention.g.cs", "Demo.Twin.g.cs" }, result.GeneratedSources.Select(s => s.HintName).Where(n => !TestCompilation.IsSharedKernel(n)).Order().ToArray());
        Assert.Single(result.GeneratedSources, s => TestCompilation.IsSharedKernel(s.HintName));
        AssertReasons(result, AttentionGenerator.StepNames.EmitKernel, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
    }

    [Fact]
    public void Changing_the_attribute_regenerates()
    {
        (GeneratorDriver driver, Compilation compilation) = Start(Kernel, Other);
        Compilation edited = Replace(compilation, 0, Kernel.Replace("HeadDim = 64", "HeadDim = 80"));
        GeneratorDriverRunResult run = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult();

        AssertReasons(run.Results.Single(), AttentionGenerator.StepNames.Model, IncrementalStepRunReason.Modified);
        AssertReasons(run.Results.Single(), AttentionGenerator.StepNames.Emit, IncrementalStepRunReason.Modified);
        Assert.Contains("public const int HeadDim = 80;", run.Results.Single().GeneratedSources.Single(s => !TestCompilation.IsSharedKernel(s.HintName)).SourceText.ToString());
    }

    [Fact]
    public void Every_step_has_a_tracking_name()
    {
        // With declarations that generate, one that has a diagnostic and projections without a kernel, so that every step has work.
        (GeneratorDriver driver, _) = Start(Kernel, Other, "using AttentionGen; [Attention(Heads = 0, HeadDim = 8)] public static partial class Broken;",
            "using AttentionGen; [AttentionProjections(QuerySize = 8)] public static partial class Orphan;");
        GeneratorRunResult result = driver.GetRunResult().Results.Single();
        string[] steps = typeof(AttentionGenerator.StepNames).GetFields().Select(field => (string)field.GetValue(null)!).ToArray();
        Assert.Equal(8, steps.Length);
        foreach (string step in steps)
        {
            Assert.True(result.TrackedSteps.ContainsKey(step), $"No step is tracked as '{step}'.");
            Assert.NotEmpty(result.TrackedSteps[step].SelectMany(run => run.Outputs));
        }
    }

    private static (GeneratorDriver Driver, Compilation Compilation) Start(params string[] sources)
    {
        CSharpCompilation compilation = TestCompilation.Create(sources);
        GeneratorDriver driver = TestCompilation.CreateDriver().RunGenerators(compilation);
        return (driver, compilation);
    }

    private static Compilation Replace(Compilation compilation, int index, string text)
    {
        SyntaxTree old = compilation.SyntaxTrees.ElementAt(index);
        return compilation.ReplaceSyntaxTree(old, CSharpSyntaxTree.ParseText(text, (CSharpParseOptions)old.Options, old.FilePath));
    }

    private static void AssertReasons(GeneratorRunResult result, string step, params IncrementalStepRunReason[] allowed)
    {
        IncrementalGeneratorRunStep[] runs = result.TrackedSteps[step].ToArray();
        Assert.NotEmpty(runs);
        Assert.All(runs.SelectMany(run => run.Outputs), output => Assert.Contains(output.Reason, allowed));
    }
}
