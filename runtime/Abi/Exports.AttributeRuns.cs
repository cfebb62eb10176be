using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Attributes;
using Hvrt.Layout;
using Hvrt.Machine;

namespace Hvrt.Abi;

/// <summary>Range queries over the attribute bitmaps: runs of equal attributes and counts (SIMD scans).</summary>
internal static unsafe class ExportsAttributeRuns
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_attributes_run", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Run(VmHandle* vm, ulong gfn, ulong end, ulong* runEnd, ulong* attrs)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        if (runEnd == null || attrs == null)
        {
            return -Errno.EFAULT;
        }
        if (gfn >= end)
        {
            return -Errno.EINVAL;
        }
        new AttributeView(vm->Read.AttributeRoot).NextRun(ref gfn, end, out *runEnd, out *attrs);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_attributes_count", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Count(VmHandle* vm, ulong start, ulong end, ulong* privatePages)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        if (privatePages == null)
        {
            return -Errno.EFAULT;
        }
        if (start > end)
        {
            return -Errno.EINVAL;
        }
        *privatePages = new AttributeView(vm->Read.AttributeRoot).CountPrivate(start, end);
        return 0;
    }
}
