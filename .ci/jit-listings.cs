// Checks the JIT's listings of the library's code for registers kept on the stack in inner loops.
//
//   dotnet run .ci/jit-listings.cs -- <label> <listing> [<listing of a second run> ...]
//
// A listing is what a process wrote with DOTNET_JitDisasm='*' and DOTNET_JitStdOutFile=<listing>, x64 or Arm64 (.ci/run
// runs the samples and the kernel tests so under each instruction-set setting, twice; .ci/arm64-tests.sh those tests,
// twice). Every method of the AttentionGen namespaces (not the tests') that the JIT compiled fully optimized is read; a
// loop is a backward jump to one of the method's labels, and an inner loop one that holds no other. An inner loop that
// does vector arithmetic and stores an xmm, ymm or zmm register (q on Arm64) into the stack frame ([rbp ± n],
// [rsp ± n]; [fp, #n], [sp, #n]) fails the check: a value that lives on the stack from one iteration to the next, a
// store and a reload each time, because the register block ran out of registers or a call inside the loop made the JIT
// spill around it. It fails only on a store that every listing given shows: threads that compile at the same time (a
// helper thread, tiered compilation's) write into one file, and a listing cut into by another's can read as anything.
// Other frame accesses in such loops are counted per method, not failures: a vector loop invariant (a constant) the JIT
// reads from the frame on each iteration, one load more, and integer registers (pointers, counters) it keeps there. On
// Arm64 an inner loop of multiply-adds (fmla) that also broadcasts floats it loaded (ldr s, then dup v.4s, v.s[0]), two
// or more, one for every eight multiply-adds or more often, fails too: the kernels multiply by an element in place
// (ISimd.MultiplyAddScalar and MultiplyAddLane, fmla by element), and such dups are vector instructions beside the
// multiply-adds, on the same pipes. The same confirmation by every listing applies.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: dotnet run .ci/jit-listings.cs -- <label> <listing> [<listing of a second run> ...]");
    return 2;
}

string label = args[0];
Findings[] runs = args.Skip(1).Select(Findings.Read).ToArray();
Findings first = runs[0];
string[] stores = first.Stores.Where(store => runs.All(run => run.Stores.Contains(store))).ToArray();
string[] broadcasts = first.Broadcasts.Where(broadcast => runs.All(run => run.Broadcasts.Contains(broadcast))).ToArray();
int unconfirmed = runs.SelectMany(run => run.Stores).Distinct().Count() - stores.Length
    + runs.SelectMany(run => run.Broadcasts).Distinct().Count() - broadcasts.Length;

Console.WriteLine($"{label}: {first.Methods} optimized methods of the library, {first.InnerLoops} inner loops with vector arithmetic; " +
    $"vector registers stored to the frame in them: {stores.Length}; lanes broadcast in multiply-add loops: {broadcasts.Length}; " +
    $"other frame accesses: {first.Others.Count}");
foreach (IGrouping<string, string> method in first.Others.GroupBy(other => other[..other.LastIndexOf(" at ", StringComparison.Ordinal)]))
{
    Console.WriteLine($"  not failures: {method.Count()} frame accesses in {method.Key}");
}

if (unconfirmed > 0)
{
    Console.WriteLine($"  not failures: {unconfirmed} stores or broadcasts that not every run's listing shows (another thread's listing cut into it)");
}

foreach (string store in stores)
{
    Console.WriteLine($"  STORED TO THE FRAME: {store}");
}

foreach (string broadcast in broadcasts)
{
    Console.WriteLine($"  LANE BROADCAST IN A MULTIPLY-ADD LOOP: {broadcast}");
}

if (runs.Any(run => run.Methods == 0))
{
    Console.WriteLine("  FAILED: a listing holds no optimized method of the library; was DOTNET_JitDisasm set?");
    return 1;
}

return stores.Length == 0 && broadcasts.Length == 0 ? 0 : 1;

/// <summary>
/// What one listing file shows: each store, lane broadcast in a multiply-add loop (Arm64) or other frame access as
/// "method at label: instruction".
/// </summary>
internal sealed record Findings(int Methods, int InnerLoops, HashSet<string> Stores, HashSet<string> Broadcasts, List<string> Others)
{
    private static readonly Regex LabelLine = new(@"^(G_M\d+_IG\d+):");
    // x64: jcc, jmp; Arm64: b, b.cond, cbz/cbnz and tbz/tbnz, whose label comes last.
    private static readonly Regex BackwardJump = new(@"^\s+(?:j\w+\s+(?:SHORT\s+)?|(?:b(?:\.\w+)?|cbn?z|tbn?z)\s+(?:[^,\s]+,\s*)*)(G_M\d+_IG\d+)\b");
    private static readonly Regex VectorArithmetic = new(
        @"^\s+(?:v?(?:fn?madd|fn?msub|mul|add|sub|max|min)\w*(?:ps|ss)\b|(?:fml[as]|fmul|fadd|fsub|fmax|fmin)\w*\s+v\d+\.)");
    private static readonly Regex Frame = new(@"\[(?:rbp|rsp)\s*[-+]|\[(?:fp|sp)\s*[,\]]");
    private static readonly Regex VectorRegister = new(@"\b(?:[xyz]mm\d+|q\d+)\b");
    private static readonly Regex ArmMultiplyAdd = new(@"^\s+fml[as]\s");
    private static readonly Regex LaneBroadcast = new(@"^\s+dup\s+v\d+\.\d+[bhsd],\s*v\d+\.[bhsd]\[");

    // A loop fails with a lane broadcast for every this many multiply-adds or fewer: the register blocks had one for
    // every one or two, the one-row kernels' P·V one for every four to eight.
    private const int BroadcastsPerMultiplyAdd = 8;

    public static Findings Read(string path)
    {
        int methods = 0, innerLoops = 0;
        var stores = new HashSet<string>();
        var broadcasts = new HashSet<string>();
        var others = new List<string>();
        foreach (string listing in File.ReadAllText(path).Split("; Assembly listing for method ", StringSplitOptions.None).Skip(1))
        {
            string[] lines = listing.Split('\n');
            string name = lines[0].Trim();
            bool optimized = name.EndsWith("(FullOpts)", StringComparison.Ordinal) || name.Contains("(Tier1", StringComparison.Ordinal);
            bool library = name.StartsWith("AttentionGen.", StringComparison.Ordinal) && !name.StartsWith("AttentionGen.Runtime.Tests.", StringComparison.Ordinal);
            if (!library || !optimized)
            {
                continue;
            }

            methods++;
            var labels = new Dictionary<string, int>();
            for (int i = 0; i < lines.Length; i++)
            {
                Match m = LabelLine.Match(lines[i]);
                if (m.Success)
                {
                    labels[m.Groups[1].Value] = i;
                }
            }

            // A backward jump closes a loop, unless it is an unconditional jump at the end of a block that no other block
            // falls into: a cold block placed after the method's body, which jumps back into it once (the JIT moves rarely
            // taken paths there).
            var loops = new List<(int Start, int End)>();
            for (int i = 0; i < lines.Length; i++)
            {
                Match m = BackwardJump.Match(lines[i]);
                if (m.Success && labels.TryGetValue(m.Groups[1].Value, out int target) && target < i && !IsColdBlockExit(lines, i))
                {
                    loops.Add((target, i));
                }
            }

            foreach ((int start, int end) in loops)
            {
                bool holdsAnother = loops.Any(other => other != (start, end) && other.Start >= start && other.End <= end);
                string[] body = lines[start..(end + 1)];
                if (holdsAnother || !body.Any(line => VectorArithmetic.IsMatch(line)))
                {
                    continue;
                }

                innerLoops++;
                string where = $"{Shorten(name)} at {lines[start].Split(':')[0]}";
                // Elements loaded and broadcast, two or more, one for every few multiply-adds: what taking each element
                // by a dup rather than in place looks like. A loop that broadcasts a value once per tile beside many
                // multiply-adds (a row's running maximum, where the JIT's layout leaves the tile's own loops outside
                // the range this reads as its inner loop) is not that.
                int multiplyAdds = body.Count(line => ArmMultiplyAdd.IsMatch(line));
                string[] laneBroadcasts = multiplyAdds > 0 ? LoadedAndBroadcast(body) : [];
                if (laneBroadcasts.Length >= 2 && laneBroadcasts.Length * BroadcastsPerMultiplyAdd >= multiplyAdds)
                {
                    foreach (string line in laneBroadcasts)
                    {
                        broadcasts.Add($"{where}: {Regex.Replace(line.Trim(), @"\s+", " ")}");
                    }
                }

                for (int i = 0; i < body.Length; i++)
                {
                    string line = body[i];
                    if (!Frame.IsMatch(line))
                    {
                        continue;
                    }

                    // Intel syntax: the destination is the first operand, so a store names the frame before any register.
                    // Arm64: stores are str, stp and stur, the register first. A line with no operands after its first
                    // word is no instruction: a piece of another thread's listing cut into this one.
                    string[] parts = line.Trim().Split(' ', 2);
                    string operands = parts.Length > 1 ? parts[1] : "";
                    Match register = VectorRegister.Match(operands);
                    bool vectorStore = register.Success
                        && (parts[0].StartsWith("st", StringComparison.Ordinal) || (register.Value[0] != 'q' && Frame.Match(operands).Index < register.Index))
                        && !(i > 0 && IsCopy(body[i - 1], line));
                    string finding = $"{where}: {Regex.Replace(line.Trim(), @"\s+", " ")}";
                    if (vectorStore)
                    {
                        stores.Add(finding);
                    }
                    else
                    {
                        others.Add(finding);
                    }
                }
            }
        }

        return new Findings(methods, innerLoops, stores, broadcasts, others);
    }

    // The lane broadcasts (dup vN.4s, vM.s[i]) of a loop body whose source register last received a float loaded from
    // memory (ldr sM, or ldp with sM): an element taken by a broadcast. Any other write to the register, or a call,
    // forgets the load.
    private static string[] LoadedAndBroadcast(string[] body)
    {
        var loaded = new HashSet<int>();
        var found = new List<string>();
        foreach (string line in body)
        {
            string[] parts = line.Trim().Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 || parts[0].EndsWith(':'))
            {
                continue;
            }

            string operands = parts.Length > 1 ? parts[1] : "";
            if (LaneBroadcast.IsMatch(line))
            {
                Match source = Regex.Match(operands, @",\s*v(\d+)\.");
                if (source.Success && loaded.Contains(int.Parse(source.Groups[1].Value)))
                {
                    found.Add(line);
                }
            }

            if (parts[0] is "bl" or "blr")
            {
                loaded.Clear();
            }
            else if (parts[0].StartsWith("ld", StringComparison.Ordinal))
            {
                string registers = operands.Split('[')[0];
                foreach (Match register in Regex.Matches(registers, @"\b([sdqvwx])(\d+)\b"))
                {
                    int index = int.Parse(register.Groups[2].Value);
                    if (register.Groups[1].Value == "s")
                    {
                        loaded.Add(index);
                    }
                    else if (register.Groups[1].Value is "d" or "q" or "v")
                    {
                        loaded.Remove(index);
                    }
                }
            }
            else if (!IsBranch(parts[0]) && !parts[0].StartsWith("st", StringComparison.Ordinal) && !parts[0].StartsWith("fcmp", StringComparison.Ordinal)
                && parts[0] is not ("cmp" or "prfm"))
            {
                Match destination = Regex.Match(operands, @"^([sdqv])(\d+)\b");
                if (destination.Success)
                {
                    loaded.Remove(int.Parse(destination.Groups[2].Value));
                }
            }
        }

        return found.ToArray();
    }

    // Arm64 branches, which write no register: b, b.cond, br, cbz/cbnz, tbz/tbnz and ret (bl and blr are calls).
    private static bool IsBranch(string mnemonic) =>
        mnemonic is "b" or "br" or "ret" or "cbz" or "cbnz" or "tbz" or "tbnz" || mnemonic.StartsWith("b.", StringComparison.Ordinal);

    // Whether a store to the frame only copies what the instruction before it loaded from elsewhere: a struct passed by
    // value, moved through vector registers (ldp q16, q17, [x1] then stp q16, q17, [fp, #-0x90] on Arm64; vmovdqu ymm0,
    // [rax] then vmovdqu [rbp-0x40], ymm0 on x64). Nothing computed waits on the stack there.
    private static bool IsCopy(string previous, string store)
    {
        string[] load = previous.Trim().Split(' ', 2), write = store.Trim().Split(' ', 2);
        if (load.Length < 2 || write.Length < 2 || Frame.IsMatch(previous) || !load[1].Contains('[') || !write[1].Contains('['))
        {
            return false;
        }

        if (load[0].StartsWith("ld", StringComparison.Ordinal))
        {
            return write[0].StartsWith("st", StringComparison.Ordinal)
                && load[1][..load[1].IndexOf('[')].Trim() == write[1][..write[1].IndexOf('[')].Trim();
        }

        Match loaded = VectorRegister.Match(load[1]);
        return loaded.Success && loaded.Index < load[1].IndexOf('[') && write[1].TrimEnd().EndsWith(loaded.Value, StringComparison.Ordinal);
    }

    // Whether line <paramref name="jump"/> is an unconditional jump in a block that is entered only by jumps: the last
    // instruction before the block's label is itself an unconditional jump or a return.
    private static bool IsColdBlockExit(string[] lines, int jump)
    {
        if (!IsUnconditionalJump(lines[jump]))
        {
            return false;
        }

        int label = jump;
        while (label > 0 && !lines[label].StartsWith("G_M", StringComparison.Ordinal))
        {
            label--;
        }

        for (int i = label - 1; i >= 0; i--)
        {
            string instruction = lines[i].Trim();
            if (instruction.Length == 0 || instruction.StartsWith("align", StringComparison.Ordinal))
            {
                continue;
            }

            return IsUnconditionalJump(instruction) || instruction.StartsWith("ret", StringComparison.Ordinal);
        }

        return false;
    }

    private static bool IsUnconditionalJump(string line)
    {
        string instruction = line.TrimStart();
        return instruction.StartsWith("jmp ", StringComparison.Ordinal) || instruction.StartsWith("b ", StringComparison.Ordinal);
    }

    // A method's name without its parameters and the namespaces that every one of them repeats.
    private static string Shorten(string name) =>
        Regex.Replace(name, @"\(.*\) \(\w+\)$", "")
            .Replace("AttentionGen.CompilerServices.", "").Replace("AttentionGen.Generated.", "").Replace("System.Runtime.Intrinsics.", "");
}
