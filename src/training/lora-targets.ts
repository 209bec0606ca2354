/** The linear layers of a decoder block that LoRA adapters can target (PEFT's module names). */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
