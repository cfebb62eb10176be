using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Machine;

namespace Hvrt.Abi;

/// <summary>Exports for private⇄shared conversion, its discard policy, sequence and listeners.</summary>
internal static unsafe class ExportsConversion
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_convert", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Convert(VmHandle* vm, ulong gpa, ulong size, int toPrivate)
    {
        try
        {
            int e = VmHandle.Check(vm);
            return e != 0 ? e : Vm.FromHandle(vm).Convert(gpa, size, toPrivate);
        }
        catch (OutOfMemoryException)
        {
            return -Errno.ENOMEM;
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_set_discard_policy", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int SetDiscardPolicy(VmHandle* vm, uint flags)
    {
        int e = VmHandle.Check(vm);
        return e != 0 ? e : Vm.FromHandle(vm).SetDiscardPolicy(flags);
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_conversion_seq", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int ConversionSeq(VmHandle* vm, ulong* seq)
    {
        int e = VmHandle.Check(vm);
        if (e != 0)
        {
            return e;
        }
        if (seq == null)
        {
            return -Errno.EFAULT;
        }
        *seq = Vm.FromHandle(vm).ConversionSeq;
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_add_conversion_listener", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int AddConversionListener(VmHandle* vm, nint callback, nint context)
    {
        try
        {
            int e = VmHandle.Check(vm);
            if (e != 0)
            {
                return e;
            }
            return callback == 0 ? -Errno.EFAULT : Vm.FromHandle(vm).AddConversionListener(callback, context);
        }
        catch (OutOfMemoryException)
        {
            return -Errno.ENOMEM;
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_remove_conversion_listener", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int RemoveConversionListener(VmHandle* vm, nint callback, nint context)
    {
        try
        {
            int e = VmHandle.Check(vm);
            return e != 0 ? e : Vm.FromHandle(vm).RemoveConversionListener(callback, context);
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }
}
