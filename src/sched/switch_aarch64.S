/* Context switch for AArch64 (AAPCS64).
 *
 * void ringo__switch(void **save_sp, void *load_sp)
 *   Saves x19-x28, the frame pointer x29, the link register x30, the low
 *   halves d8-d15 (callee-saved by the ABI) and FPCR (rounding mode and
 *   trap enables) below the current sp, stores sp in *save_sp, restores
 *   the same set from load_sp and returns through the restored x30.
 *
 * Frame (176 bytes): x19..x28, x29, x30, d8..d15, fpcr, pad
 */
    .text
    .globl ringo__switch
    .hidden ringo__switch
    .type ringo__switch, %function
    .p2align 4
ringo__switch:
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldr x9, [sp, #160]
    msr fpcr, x9
    add sp, sp, #176
    ret
    .size ringo__switch, .-ringo__switch

/* First instruction of every coroutine: x19 = argument, x20 = entry. */
    .globl ringo__trampoline
    .hidden ringo__trampoline
    .type ringo__trampoline, %function
    .p2align 4
ringo__trampoline:
    mov x29, #0
    mov x0, x19
    blr x20
    brk #0
    .size ringo__trampoline, .-ringo__trampoline

    .section .note.GNU-stack,"",%progbits
