using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;

namespace Hvrt.Abi;

/// <summary>hvrt_translate_batch: many gfns of one address space under one read section.</summary>
internal static unsafe class ExportsBatch
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_translate_batch", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int TranslateBatch(VmHandle* vm, uint asId, ulong* gfns, nuint n, HvrtTranslation* output)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        if (asId >= vm->Read.NrAddressSpaces)
        {
            return -Errno.EINVAL;
        }
        if (n == 0)
        {
            return 0;
        }
        e = CheckArrays(gfns, n, output);
        if (e != 0)
        {
            return e;
        }
        return Translator.TranslateBatch(&vm->Read, asId, gfns, n, output);
    }

    /// <summary>
    /// For n &gt; 0: the count of hits must fit the int result, so n &gt; INT_MAX is -EINVAL (that
    /// covers every n whose n * 64 output bytes overflow size_t); a NULL array is -EFAULT.
    /// </summary>
    internal static int CheckArrays(ulong* gfns, nuint n, HvrtTranslation* output)
    {
        if (n > int.MaxValue)
        {
            return -Errno.EINVAL;
        }
        return gfns == null || output == null ? -Errno.EFAULT : 0;
    }
}
