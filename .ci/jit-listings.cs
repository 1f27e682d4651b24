// Checks the JIT's listings of the library's code for registers kept on the stack in inner loops.
//
//   dotnet run .ci/jit-listings.cs -- <label> <listing>
//
// <listing> is what a process wrote with DOTNET_JitDisasm='*' and DOTNET_JitStdOutFile=<listing> (x64 listings; .ci/run
// runs the samples so under each instruction-set setting). Every method of the AttentionGen namespaces that the JIT
// compiled fully optimized is read; a loop is a backward jump to one of the method's labels, and an inner loop one
// that holds no other. An inner loop that does vector arithmetic and stores an xmm, ymm or zmm register into the stack
// frame ([rbp ± n], [rsp ± n]) fails the check: a value that lives on the stack from one iteration to the next, a store
// and a reload each time, because the register block ran out of registers or a call inside the loop made the JIT spill
// around it. Other frame accesses in such loops are counted per method, not failures: a vector loop invariant (a
// constant) the JIT reads from the frame on each iteration, one load more, and integer registers (pointers, counters)
// it keeps there.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: dotnet run .ci/jit-listings.cs -- <label> <listing>");
    return 2;
}

string label = args[0];
string[] listings = File.ReadAllText(args[1]).Split("; Assembly listing for method ", StringSplitOptions.None);
var labelLine = new Regex(@"^(G_M\d+_IG\d+):");
var backwardJump = new Regex(@"^\s+j\w+\s+(?:SHORT\s+)?(G_M\d+_IG\d+)\b");
var vectorArithmetic = new Regex(@"^\s+v?(?:fn?madd|fn?msub|mul|add|sub|max|min)\w*(?:ps|ss)\b");
var frame = new Regex(@"\[(?:rbp|rsp)\s*[-+]");
var vectorRegister = new Regex(@"\b[xyz]mm\d+\b");

int methods = 0, innerLoops = 0;
var stores = new List<string>();
var others = new List<string>();
foreach (string listing in listings.Skip(1))
{
    string[] lines = listing.Split('\n');
    string name = lines[0].Trim();
    bool optimized = name.EndsWith("(FullOpts)", StringComparison.Ordinal) || name.Contains("(Tier1", StringComparison.Ordinal);
    if (!name.StartsWith("AttentionGen.", StringComparison.Ordinal) || !optimized)
    {
        continue;
    }

    methods++;
    var labels = new Dictionary<string, int>();
    for (int i = 0; i < lines.Length; i++)
    {
        Match m = labelLine.Match(lines[i]);
        if (m.Success)
        {
            labels[m.Groups[1].Value] = i;
        }
    }

    var loops = new List<(int Start, int End)>();
    for (int i = 0; i < lines.Length; i++)
    {
        Match m = backwardJump.Match(lines[i]);
        if (m.Success && labels.TryGetValue(m.Groups[1].Value, out int target) && target < i)
        {
            loops.Add((target, i));
        }
    }

    foreach ((int start, int end) in loops)
    {
        bool holdsAnother = loops.Any(other => other != (start, end) && other.Start >= start && other.End <= end);
        string[] body = lines[start..(end + 1)];
        if (holdsAnother || !body.Any(line => vectorArithmetic.IsMatch(line)))
        {
            continue;
        }

        innerLoops++;
        string where = $"{Shorten(name)} at {lines[start].Split(':')[0]}";
        foreach (string line in body.Where(line => frame.IsMatch(line)))
        {
            // Intel syntax: the destination is the first operand, so a store names the frame before any register.
            string operands = line.Trim().Split(' ', 2)[1];
            bool vectorStore = frame.Match(operands).Index < (vectorRegister.Match(operands) is { Success: true } r ? r.Index : -1);
            (vectorStore ? stores : others).Add($"{where}: {line.Trim()}");
        }
    }
}

Console.WriteLine($"{label}: {methods} optimized methods of the library, {innerLoops} inner loops with vector arithmetic; " +
    $"vector registers stored to the frame in them: {stores.Count}; other frame accesses: {others.Count}");
foreach (IGrouping<string, string> method in others.GroupBy(other => other[..other.LastIndexOf(" at ", StringComparison.Ordinal)]))
{
    Console.WriteLine($"  not failures: {method.Count()} frame accesses in {method.Key}");
}

foreach (string store in stores)
{
    Console.WriteLine($"  STORED TO THE FRAME: {store}");
}

if (methods == 0)
{
    Console.WriteLine($"  FAILED: no optimized method of the library in {args[1]}; was DOTNET_JitDisasm set?");
    return 1;
}

return stores.Count == 0 ? 0 : 1;

// A method's name without its parameters and the namespaces that every one of them repeats.
static string Shorten(string name) =>
    Regex.Replace(name, @"\(.*\) \(\w+\)$", "")
        .Replace("AttentionGen.CompilerServices.", "").Replace("AttentionGen.Generated.", "").Replace("System.Runtime.Intrinsics.", "");
